// SPDX-License-Identifier: Apache-2.0
// Loading, validating and ordering a pipeline. Nothing here runs a stage.
#include <algorithm>
#include <functional>
#include <set>

#include "pipeline/plan_facts.h"
#include "stagehand/seed.h"
#include "pipeline/pipeline.h"

namespace stagehand {

namespace fs = std::filesystem;

const StagePlan* Pipeline::find(const std::string& name) const {
  for (const auto& s : stages)
    if (s.name == name) return &s;
  return nullptr;
}

std::vector<std::string> Pipeline::downstream(const std::string& name) const {
  std::set<std::string> reached{name};
  std::vector<std::string> out;
  for (const auto& s : stages) {  // execution order is topological
    for (const auto& d : s.deps) {
      if (reached.count(d) && !reached.count(s.name)) {
        reached.insert(s.name);
        out.push_back(s.name);
        break;
      }
    }
  }
  return out;
}

namespace {

Schema pipeline_schema() {
  Schema s;
  s.required("name", OptionType::String, "pipeline name (runs go to runs/<name>/<run id>/)");
  s.opt("description", std::string(""), "what the experiment is");
  s.opt("seed", int64_t{1991}, "pipeline seed; each stage derives its own from it and its name").min(0);
  s.add(OptionSpec{"threads", OptionType::Map, ConfigNode::map(), "thread settings: intra_op, inter_op, blas, data",
                   {}, {}, {}, "", OptionType::Any, false});
  s.list("plugins", OptionType::Path, ConfigNode::sequence(), "extra plugin files (.so), relative to this file");
  s.add(OptionSpec{"vars", OptionType::Map, ConfigNode::map(), "free values for ${vars.x} references",
                   {}, {}, {}, "", OptionType::Any, false});
  s.required("stages", OptionType::Map, "the stages, by name");
  return s;
}

Schema thread_schema() {
  Schema s;
  s.opt("intra_op", int64_t{0}, "LibTorch intra-op threads (0 = one per core)").min(0);
  s.opt("inter_op", int64_t{1}, "LibTorch inter-op threads").min(1);
  s.opt("blas", int64_t{0}, "OpenBLAS threads (0 = the cores intra-op threads leave: one per core with intra_op: 1, else 1)").min(0);
  s.opt("data", int64_t{1}, "input-preparation threads").min(1);
  return s;
}

/// Options every stage has, whatever its kind.
Schema common_stage_schema() {
  Schema s;
  s.opt("description", std::string(""), "what this stage is for (not part of the cache key)");
  s.optional("seed", OptionType::Int, "seed of this stage (default: derived from the pipeline seed and the name)");
  s.opt("cache", true, "reuse the output of an identical earlier run (false: always run)");
  s.opt("trials", int64_t{1},
        "independent runs of the stage with derived seeds (trial 1 uses the stage seed); metrics become mean, "
        "std, min and max over the trials, with every trial's value in the record")
      .min(1);
  s.list("after", OptionType::Stage, ConfigNode::sequence(), "extra stages that must run first");
  return s;
}

struct NoStages : ValidationScope {
  std::shared_ptr<const Schema> component_schema(const std::string& kind, const std::string& name,
                                                 const Location& where) const override {
    throw Error(fmt::format("no {} '{}' expected here", kind, name), where);
  }
  void stage_reference(const std::string& stage, const std::string&, const Location& where) override {
    throw Error(fmt::format("'{}': stage names are only meaningful inside stages", stage), where);
  }
};

struct StageScope : ValidationScope {
  const Registry& registry;
  const std::map<std::string, const ComponentInfo*>& kinds;  // stage name -> stage kind
  const std::vector<std::string>& names;
  StagePlan& plan;

  StageScope(const Registry& r, const std::map<std::string, const ComponentInfo*>& k,
             const std::vector<std::string>& n, StagePlan& p)
      : registry(r), kinds(k), names(n), plan(p) {}

  std::shared_ptr<const Schema> component_schema(const std::string& kind, const std::string& name,
                                                 const Location& where) const override {
    const ComponentInfo& info = registry.get(kind, name, where);
    plan.plugin_files.insert(info.plugin_file);
    return info.schema;
  }
  void stage_reference(const std::string& stage, const std::string& kind, const Location& where) override {
    auto it = kinds.find(stage);
    if (it == kinds.end()) {
      std::string dym = closest_match(stage, names);
      if (!kind.empty())
        throw Error(fmt::format("'{}' is neither {} spec nor a stage of this pipeline{}; write {{type: NAME, ...}} "
                                "or the name of a stage that provides {}",
                                stage, with_article(kind), dym.empty() ? "" : fmt::format(" (did you mean stage '{}'?)", dym),
                                with_article(kind)),
                    where);
      throw Error(fmt::format("unknown stage '{}'{}", stage,
                              dym.empty() ? "" : fmt::format("; did you mean '{}'?", dym)),
                  where);
    }
    if (stage == plan.name) throw Error(fmt::format("stage '{}' refers to itself", stage), where);
    if (!kind.empty()) {
      const auto& provides = it->second->provides;
      if (std::find(provides.begin(), provides.end(), kind) == provides.end()) {
        std::string p;
        for (const auto& x : provides) p += (p.empty() ? "" : ", ") + x;
        throw Error(fmt::format("stage '{}' (kind {}) provides no {} (it provides: {})", stage, it->second->name,
                                kind, p.empty() ? "nothing" : p),
                    where);
      }
    }
    if (std::find(plan.deps.begin(), plan.deps.end(), stage) == plan.deps.end()) plan.deps.push_back(stage);
  }
  void input_file(const fs::path& file) override { plan.inputs[file.string()] = ""; }
};

}  // namespace

namespace {

/// The top level (name, description, seed, threads, plugins); `stages` is left to the per-stage pass.
ConfigNode plan_top_level(const ConfigNode& root, Pipeline& p, PluginLoader& loader) {
  if (!root.is_map())
    throw Error(fmt::format("a pipeline file must hold a map with 'name' and 'stages', got a {}", root.type_name()),
                root.location());
  NoStages top_scope;
  top_scope.default_base_dir = p.file.parent_path();
  ConfigNode top = validate(root, pipeline_schema(), "pipeline", top_scope, {});
  p.name = top.at("name").as_string();
  if (p.name.empty() || p.name.find_first_of("/\\ ") != std::string::npos || p.name[0] == '.')
    throw Error(fmt::format("pipeline name '{}' must be non-empty without '/', '\\' or spaces (it names a folder)",
                            p.name),
                top.at("name").location());
  p.description = top.at("description").as_string();
  p.seed = static_cast<uint64_t>(top.at("seed").as_int());
  ConfigNode threads = validate(top.at("threads"), thread_schema(), "threads", top_scope, {});
  p.threads.intra_op = static_cast<int>(threads.at("intra_op").as_int());
  p.threads.inter_op = static_cast<int>(threads.at("inter_op").as_int());
  p.threads.blas = static_cast<int>(threads.at("blas").as_int());
  p.threads.data = static_cast<int>(threads.at("data").as_int());
  top.set("threads", threads);
  for (const auto& pf : top.at("plugins").items()) {
    fs::path f = pf.as_string();
    p.plugin_files.push_back(f);
    if (!loader.load(f, "pipeline")) {
      const auto& r = loader.refused().back();
      throw Error(fmt::format("plugin '{}' was refused: {}", f.string(), r.reason), pf.location());
    }
  }
  return top;
}

/// Each stage's name and kind, checked before any stage's options (a stage may refer to any other by name).
void stage_kinds(const ConfigNode& stages, const Registry& registry, std::vector<std::string>& names,
                 std::map<std::string, const ComponentInfo*>& kinds) {
  if (stages.size() == 0) throw Error("the pipeline has no stages; add at least one under 'stages:'", stages.location());
  for (const auto& [name, body] : stages.entries()) {
    Location where = stages.key_location(name);
    if (name.empty() || name.find_first_of("/\\ .") != std::string::npos)
      throw Error(fmt::format("stage name '{}' must not contain '/', '\\', '.' or spaces (it names a folder)", name),
                  where);
    if (!body.is_map()) throw Error(fmt::format("stage '{}' must be a map with 'kind: ...'", name), body.location());
    const ConfigNode* k = body.find("kind");
    if (!k) throw Error(fmt::format("stage '{}' has no 'kind' (see `runner plugins` for stage kinds)", name), where);
    kinds[name] = &registry.get("stage", k->as_string(), k->location());
    names.push_back(name);
  }
}

/// Every stage's options validated against its kind's schema (defaults filled in), its seed, cache and trials.
std::vector<StagePlan> stage_plans(const ConfigNode& stages, const Pipeline& p, const Registry& registry,
                                   const std::vector<std::string>& names,
                                   const std::map<std::string, const ComponentInfo*>& kinds) {
  std::vector<StagePlan> plans;
  for (const auto& [name, body] : stages.entries()) {
    StagePlan plan;
    plan.name = name;
    plan.info = kinds.at(name);
    plan.kind = plan.info->name;
    plan.where = stages.key_location(name);
    plan.plugin_files.insert(plan.info->plugin_file);
    Schema schema = *plan.info->schema;
    schema.extend(common_stage_schema());
    StageScope scope(registry, kinds, names, plan);
    scope.default_base_dir = p.file.parent_path();
    plan.resolved = validate(body, schema, fmt::format("stage '{}' ({})", name, plan.kind), scope, {"kind"});
    const ConfigNode& seed = plan.resolved.at("seed");
    plan.seed = seed.is_null() ? derive_seed(p.seed, name) : static_cast<uint64_t>(seed.as_int());
    plan.cache = plan.resolved.at("cache").as_bool();
    plan.trials = static_cast<int>(plan.resolved.at("trials").as_int());
    plans.push_back(std::move(plan));
  }
  // Trial k of a stage reads trial k of an upstream stage that has trials: the counts must agree (or one side
  // has a single run, which every trial shares).
  for (const auto& plan : plans) {
    for (const auto& d : plan.deps) {
      const StagePlan& up = plans[std::distance(names.begin(), std::find(names.begin(), names.end(), d))];
      if (plan.trials > 1 && up.trials > 1 && plan.trials != up.trials)
        throw Error(fmt::format("stage '{}' has trials: {} but its upstream stage '{}' has trials: {}; trial k reads "
                                "trial k of its upstream, so give both the same number (or one of them 1)",
                                plan.name, plan.trials, d, up.trials),
                    plan.where);
    }
  }
  return plans;
}

/// The stages of one cycle among those not placed, "a -> b -> a", in the error that stops the plan. Every stage left
/// unplaced waits for another unplaced one, so following the first such reference from any of them must come back
/// to a stage already seen; the stages from that one on are the cycle (stages merely downstream of it are not).
std::string cycle_message(const std::vector<StagePlan>& plans, const std::map<std::string, size_t>& index,
                          const std::vector<bool>& placed) {
  size_t at = 0;
  while (placed[at]) ++at;
  std::vector<size_t> path;
  std::map<size_t, size_t> seen;  // stage -> its position in `path`
  while (!seen.count(at)) {
    seen[at] = path.size();
    path.push_back(at);
    for (const auto& d : plans[at].deps)
      if (!placed[index.at(d)]) {
        at = index.at(d);
        break;
      }
  }
  // `path` walks from a stage to what it reads; the cycle is printed in the order the data flows.
  std::vector<std::string> names;
  for (size_t k = path.size(); k-- > seen[at];) names.push_back(plans[path[k]].name);
  names.push_back(names.front());
  return fmt::format("the stages {} read each other's outputs in a cycle; remove one of these references",
                     fmt::join(names, " -> "));
}

/// Kahn's algorithm, ties broken by declaration order; a cycle is an error naming its stages.
std::vector<StagePlan> in_dependency_order(const std::vector<StagePlan>& plans, const Location& where) {
  std::vector<StagePlan> ordered;
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < plans.size(); ++i) index[plans[i].name] = i;
  std::vector<bool> placed(plans.size(), false);
  while (ordered.size() < plans.size()) {
    bool progress = false;
    for (size_t i = 0; i < plans.size(); ++i) {
      if (placed[i]) continue;
      bool ready = true;
      for (const auto& d : plans[i].deps)
        if (!placed[index[d]]) ready = false;
      if (ready) {
        placed[i] = true;
        ordered.push_back(plans[i]);
        progress = true;
        break;
      }
    }
    if (!progress) throw Error(cycle_message(plans, index, placed), where);
  }
  return ordered;
}

}  // namespace

Pipeline plan_pipeline(ConfigNode root, const fs::path& file, PluginLoader& loader) {
  Pipeline p;
  p.file = fs::absolute(file).lexically_normal();
  ConfigNode top = plan_top_level(root, p, loader);
  const Registry& registry = loader.registry();
  const ConfigNode& stages = top.at("stages");
  std::vector<std::string> names;
  std::map<std::string, const ComponentInfo*> kinds;
  stage_kinds(stages, registry, names, kinds);
  p.stages = in_dependency_order(stage_plans(stages, p, registry, names, kinds), stages.location());
  // Options that follow from upstream components (an encoder's vocab_size from the data's tokenizer).
  apply_plan_facts(p.stages, registry);
  ConfigNode resolved_stages = ConfigNode::map({}, stages.location());
  for (const auto& [name, body] : stages.entries()) resolved_stages.set(name, p.find(name)->resolved);
  top.set("stages", resolved_stages);
  p.root = top;
  return p;
}

namespace {

/// A `vars` entry that no ${vars.NAME} refers to changes nothing: most often a misspelt override or a value the
/// pipeline stopped using. Refused, with the closest name that is used.
void check_vars_used(const ConfigNode& root, const std::set<std::string>& referenced) {
  const ConfigNode* vars = root.is_map() ? root.find("vars") : nullptr;
  if (!vars || !vars->is_map()) return;
  std::vector<std::string> used;
  for (const auto& ref : referenced)
    if (ref.rfind("vars.", 0) == 0) used.push_back(ref.substr(5, ref.find('.', 5) - 5));
  for (const auto& [name, value] : vars->entries()) {
    if (std::find(used.begin(), used.end(), name) != used.end()) continue;
    std::string dym = closest_match(name, used);
    throw Error(fmt::format("vars.{} is set but nothing refers to it (no ${{vars.{}}} in the pipeline), so it would "
                            "change nothing; {}",
                            name, name,
                            dym.empty() ? fmt::format("remove it, or use it as ${{vars.{}}}", name)
                                        : fmt::format("did you mean vars.{}?", dym)),
                value.location().known() ? value.location() : vars->key_location(name));
  }
}

}  // namespace

Pipeline load_pipeline(const fs::path& file, const std::vector<std::string>& overrides, PluginLoader& loader) {
  ConfigNode root = load_config_file(file);
  int i = 0;
  for (const auto& o : overrides) apply_override(root, o, ++i);
  check_vars_used(root, resolve_references(root));
  Pipeline p = plan_pipeline(root, file, loader);
  p.overrides = overrides;
  return p;
}

}  // namespace stagehand
