// SPDX-License-Identifier: Apache-2.0
// Filling a component spec from facts about its siblings (an encoder's vocab_size from the data's tokenizer).
// Planning fills with facts known before anything runs (core/src/pipeline/facts.cpp); a stage fills again when it
// runs with what the built components report (fill_hints), which is the last word.
#include "stagehand/error.h"
#include "stagehand/registry.h"

namespace stagehand {

namespace {

void fill(ConfigNode& spec, const std::string& kind, const std::map<std::string, Fact>& facts,
          const Registry& registry, const std::string& path) {
  if (!spec.is_map() || !spec.find("type")) return;
  const ComponentInfo* info = registry.find(kind, spec.at("type").as_string());
  if (!info) return;  // validation reports it, with its location
  for (const auto& opt : info->schema->options()) {
    ConfigNode* given = spec.find(opt.name);
    const std::string where = path.empty() ? opt.name : path + "." + opt.name;
    if (opt.type == OptionType::Component) {
      if (given && given->is_map()) fill(*given, opt.component_kind, facts, registry, where);
      continue;
    }
    auto f = facts.find(opt.name);
    if (f == facts.end() || opt.type != OptionType::Int) continue;
    const Fact& fact = f->second;
    if (!given || given->is_null() || given->location().derived()) {
      spec.set(opt.name, ConfigNode::of(fact.value, Location{"<from " + fact.source + ">", 0, 0}));
      continue;
    }
    if (given->as_int() != fact.value)
      throw Error(fmt::format("{} is {}, but {} gives {} {}; leave {} out to take it from there, or make them agree",
                              where, given->as_int(), fact.source, opt.name, fact.value, opt.name),
                  given->location());
  }
}

}  // namespace

ConfigNode fill_facts(const ConfigNode& spec, const std::string& kind, const std::map<std::string, Fact>& facts,
                      const Registry& registry, const std::string& path) {
  ConfigNode out = spec.clone();
  fill(out, kind, facts, registry, path);
  return out;
}

}  // namespace stagehand
