// SPDX-License-Identifier: Apache-2.0
#include "stagehand/registry.h"

#include "plugin/declarations.h"

#include "stagehand/stage.h"
#include "stagehand/tokenizer.h"

namespace stagehand {

const std::vector<std::pair<std::string, std::string>>& known_kinds() {
  static const std::vector<std::pair<std::string, std::string>> kinds = {
      {"stage", "a kind of pipeline stage (train, evaluate, embed, ...)"},
      {"tokenizer", "turns text into token ids"},
      {"tokenizer_trainer", "learns a tokenizer vocabulary from a corpus"},
      {"encoder", "a transformer text encoder (token ids -> hidden states of every layer)"},
      {"model", "a trainable model: encoder(s) plus heads wired for a task"},
      {"head", "a task head on top of encoder outputs"},
      {"loss", "a training objective"},
      {"dataset", "reads examples from files"},
      {"evaluator", "computes metrics from predictions"},
      {"optimizer", "updates parameters from gradients"},
      {"scheduler", "learning-rate schedule"},
  };
  return kinds;
}

ComponentInfo& PluginRegistrar::add_entry(ComponentInfo info) {
  SH_CHECK(!info.kind.empty() && !info.name.empty(), "a component needs a kind and a name");
  for (const auto& e : entries_)
    SH_CHECK(!(e.kind == info.kind && e.name == info.name), "{} '{}' is registered twice by this plugin", info.kind,
             info.name);
  entries_.push_back(std::move(info));
  return entries_.back();
}

Registry::Registry() = default;
Registry::~Registry() = default;

void Registry::add(ComponentInfo info) {
  auto key = std::make_pair(info.kind, info.name);
  auto it = entries_.find(key);
  if (it != entries_.end())
    throw Error(fmt::format("{} '{}' is provided by both '{}' and '{}'; remove one of the two plugins or rename "
                            "the component",
                            info.kind, info.name, it->second.plugin_file, info.plugin_file));
  entries_.emplace(key, std::move(info));
}

const ComponentInfo* Registry::find(const std::string& kind, const std::string& name) const {
  auto it = entries_.find({kind, name});
  return it == entries_.end() ? nullptr : &it->second;
}

const ComponentInfo& Registry::get(const std::string& kind, const std::string& name, const Location& where) const {
  if (const ComponentInfo* c = find(kind, name)) return *c;
  std::vector<std::string> names;
  for (const auto& [k, v] : entries_)
    if (k.first == kind) names.push_back(k.second);
  std::string dym = closest_match(name, names);
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  throw Error(fmt::format("unknown {} '{}'{}; registered: {} (a plugin may have been refused: see `runner "
                          "plugins`)",
                          kind == "stage" ? "stage kind" : kind, name, dym.empty() ? "" : fmt::format(" (did you mean '{}'?)", dym),
                          list.empty() ? "none" : list),
              where);
}

std::vector<const ComponentInfo*> Registry::list(const std::string& kind) const {
  std::vector<const ComponentInfo*> out;
  for (const auto& [k, v] : entries_)
    if (kind.empty() || k.first == kind) out.push_back(&v);
  return out;
}

std::vector<std::string> Registry::kinds() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : entries_)
    if (out.empty() || out.back() != k.first) out.push_back(k.first);
  return out;
}

namespace {
struct RegistryScope : ValidationScope {
  const Registry& reg;
  bool stages_resolvable;  // inside a running stage, names of upstream stages resolve through BuildContext
  RegistryScope(const Registry& r, bool resolvable) : reg(r), stages_resolvable(resolvable) {}
  std::shared_ptr<const Schema> component_schema(const std::string& kind, const std::string& name,
                                                 const Location& where) const override {
    return reg.get(kind, name, where).schema;
  }
  void stage_reference(const std::string& stage, const std::string&, const Location& where) override {
    if (!stages_resolvable)
      throw Error(fmt::format("'{}' names a stage, which is only possible inside a pipeline stage", stage), where);
  }
};
}  // namespace

std::shared_ptr<void> Registry::create(const std::string& kind, const ConfigNode& spec,
                                       const BuildContext& ctx) const {
  ConfigNode s = spec;
  if (spec.is_scalar()) {
    if (!ctx.provided)
      throw Error(fmt::format("{} '{}' names a stage, but no pipeline is running", kind, spec.text()),
                  spec.location());
    s = ctx.provided(spec.text(), kind, spec.location());
  }
  if (!s.is_map() || !s.find("type"))
    throw Error(fmt::format("{} spec must be a map with 'type: NAME'", with_article(kind)), s.location());
  const ComponentInfo& info = get(kind, s.at("type").as_string(), s.at("type").location());
  RegistryScope scope(*this, static_cast<bool>(ctx.provided));
  if (!ctx.base_dir.empty()) scope.default_base_dir = ctx.base_dir;
  std::string owner = fmt::format("{} '{}'", kind, info.name);
  ConfigNode resolved = validate(s, *info.schema, owner, scope);
  Options options(resolved, info.schema, owner);
  try {
    auto obj = info.factory(options, ctx);
    if (!obj) throw Error(fmt::format("{}: the factory returned nothing (plugin {})", owner, info.plugin_file));
    return obj;
  } catch (Error& e) {
    e.in_component(owner);
    throw;
  } catch (const NeedsPluginCode&) {
    throw;  // not an error: the light runner hands the command to runner-full
  } catch (const std::exception& e) {
    throw Error(fmt::format("{}: {}", owner, e.what()), s.location());
  }
}

// Key functions of the interfaces live here so that their type info is unique in the core.
Tokenizer::~Tokenizer() = default;
TokenizerTrainer::~TokenizerTrainer() = default;
Stage::~Stage() = default;
StageContext::~StageContext() = default;
Progress::~Progress() = default;

}  // namespace stagehand
