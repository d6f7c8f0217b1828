// SPDX-License-Identifier: Apache-2.0
#include "pipeline/plan_facts.h"

#include <map>
#include <set>
#include <string>

#include "stagehand/tokenizer.h"

namespace stagehand {

namespace {

/// Facts of components and stages, each worked out once.
class FactFinder {
 public:
  FactFinder(const std::vector<StagePlan>& stages, const Registry& registry) : registry_(registry) {
    for (const auto& s : stages) stages_[s.name] = &s;
  }

  /// Facts of a component option's value: an inline `{type: ...}` spec of `kind`, or a stage that provides one.
  std::map<std::string, Fact> component(const ConfigNode& spec, const std::string& kind) {
    if (spec.is_scalar()) return stage(spec.as_string());
    if (!spec.is_map() || !spec.find("type")) return {};
    const std::string key = kind + "\n" + to_yaml(spec);
    if (auto it = memo_.find(key); it != memo_.end()) return it->second;
    const ComponentInfo* info = registry_.find(kind, spec.at("type").as_string());
    std::map<std::string, Fact> out;
    const std::string source = fmt::format("the {} '{}'", kind, spec.at("type").as_string());
    if (info && info->facts)
      out = own(*info, spec, source);
    else if (info && kind == Tokenizer::kKind)
      out = built_tokenizer(spec, source);
    else if (info)
      out = of_options(spec, *info->schema);
    memo_[key] = out;
    return out;
  }

  /// Facts of what a stage provides.
  std::map<std::string, Fact> stage(const std::string& name) {
    if (auto it = memo_.find("stage\n" + name); it != memo_.end()) return it->second;
    auto s = stages_.find(name);
    std::map<std::string, Fact> out;
    if (s != stages_.end()) {
      const StagePlan& plan = *s->second;
      out = plan.info->facts ? own(*plan.info, plan.resolved, fmt::format("stage '{}'", name))
                             : of_options(plan.resolved, *plan.info->schema);
      // The stage that makes the fact is what a reader finds in the pipeline; stages that pass it on are not named.
      for (auto& [k, f] : out)
        if (f.source.rfind("stage '", 0) != 0) f.source = fmt::format("stage '{}' ({})", name, f.source);
    }
    memo_["stage\n" + name] = out;
    return out;
  }

  /// The facts of every component option of `resolved` but `skip`, merged; a fact two of them disagree on is
  /// left out (nobody can say which one a sibling should follow).
  std::map<std::string, Fact> of_options(const ConfigNode& resolved, const Schema& schema,
                                         const std::string& skip = "") {
    std::map<std::string, Fact> out;
    std::set<std::string> disputed;
    for (const auto& opt : schema.options()) {
      if (opt.type != OptionType::Component || opt.name == skip) continue;
      const ConfigNode* v = resolved.find(opt.name);
      if (!v || v->is_null()) continue;
      for (const auto& [k, f] : component(*v, opt.component_kind)) {
        auto [it, fresh] = out.emplace(k, f);
        if (!fresh && it->second.value != f.value) disputed.insert(k);
      }
    }
    for (const auto& k : disputed) out.erase(k);
    return out;
  }

 private:
  std::map<std::string, Fact> own(const ComponentInfo& info, const ConfigNode& resolved, const std::string& source) {
    Options o(resolved, info.schema, fmt::format("{} '{}'", info.kind, info.name));
    // A fact passed on unchanged from a nested component (a dataset's vocab_size from its tokenizer) keeps that
    // component's source: it is what a reader looks for in the pipeline.
    std::map<std::string, Fact> nested;
    FactLookup lookup = [this, &nested](const ConfigNode& spec, const std::string& kind) {
      PlanFacts plain;
      for (const auto& [k, f] : component(spec, kind)) {
        plain[k] = f.value;
        nested.emplace(k, f);
      }
      return plain;
    };
    std::map<std::string, Fact> out;
    for (const auto& [k, v] : info.facts(o, lookup)) {
      auto n = nested.find(k);
      out[k] = n != nested.end() && n->second.value == v ? n->second : Fact{v, source};
    }
    return out;
  }

  /// A tokenizer that can be built from files (a vocabulary, a model) is built: its size is then certain.
  std::map<std::string, Fact> built_tokenizer(const ConfigNode& spec, const std::string& source) {
    BuildContext bc;
    bc.registry = &registry_;
    auto tok = registry_.create<Tokenizer>(spec, bc);
    return {{"vocab_size", Fact{tok->vocab_size(), source}}};
  }

  const Registry& registry_;
  std::map<std::string, const StagePlan*> stages_;
  std::map<std::string, std::map<std::string, Fact>> memo_;
};

}  // namespace

void apply_plan_facts(std::vector<StagePlan>& stages, const Registry& registry) {
  for (auto& plan : stages) {
    FactFinder finder(stages, registry);  // afresh: earlier stages may have been filled
    const Schema& schema = *plan.info->schema;
    for (const auto& opt : schema.options()) {
      if (opt.type != OptionType::Component) continue;
      const ConfigNode* v = plan.resolved.find(opt.name);
      if (!v || !v->is_map()) continue;
      auto facts = finder.of_options(plan.resolved, schema, opt.name);
      if (facts.empty()) continue;
      try {
        plan.resolved.set(opt.name, fill_facts(*v, opt.component_kind, facts, registry, opt.name));
        // The filled component's own fact function then runs on what it was given: it is where a component checks
        // an option against a filled fact (a loss's class_weights, one per class, against num_labels from the data).
        finder.component(*plan.resolved.find(opt.name), opt.component_kind);
      } catch (Error& e) {
        throw e.in_stage(plan.name);
      }
    }
  }
}

}  // namespace stagehand
