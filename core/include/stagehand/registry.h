// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The component registry. Components are registered by plugins (built-in ones too) under a kind
/// ("tokenizer", "encoder", "loss", "stage", ...) and a name (the YAML `type:`, or `kind:` for stages).
/// Each entry carries its option schema and the plugin it came from.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "stagehand/config.h"
#include "stagehand/export.h"
#include "stagehand/schema.h"

namespace stagehand {

class Registry;

/// Handed to factories: the registry (to build nested components), a seed, and the folder that relative
/// paths produced at run time should use.
struct STAGEHAND_API BuildContext {
  const Registry* registry = nullptr;
  uint64_t seed = 0;
  std::filesystem::path base_dir;
  /// Resolves a component option given as a stage name into that stage's provided spec. Set by the
  /// executor; null outside a run (then stage names cannot be resolved).
  std::function<ConfigNode(const std::string& stage, const std::string& kind, const Location&)> provided;
};

using Factory = std::function<std::shared_ptr<void>(const Options&, const BuildContext&)>;

/// Integer facts about a component, known from its resolved options before anything runs: a tokenizer's
/// {"vocab_size": 8000}. See ComponentInfo::facts.
using PlanFacts = std::map<std::string, int64_t>;
/// Gives the facts of a nested component option's value (an inline spec or the name of a stage that provides
/// one) of kind `kind`.
using FactLookup = std::function<PlanFacts(const ConfigNode& spec, const std::string& kind)>;
/// Computes a component's facts from its validated options; throws stagehand::Error when they are unusable.
using FactFunction = std::function<PlanFacts(const Options&, const FactLookup&)>;

/// A fact with where it comes from, as a phrase ("the tokenizer of stage 'tokenizer'", "the data").
struct STAGEHAND_API Fact {
  int64_t value = 0;
  std::string source;
};

struct STAGEHAND_API ComponentInfo {
  std::string kind;
  std::string name;
  std::string doc;
  std::shared_ptr<const Schema> schema;
  Factory factory;
  /// For stage kinds: the component kinds a completed stage provides to later stages (e.g. "tokenizer").
  std::vector<std::string> provides;
  /// For stage kinds: every rank of a data-parallel run runs the stage together (see stagehand/distributed.h);
  /// other stages run on rank 0 alone while the other ranks wait.
  bool data_parallel = false;
  /// A complete example spec (`{type: NAME, ...}`) that builds this component, used by `runner test-plugin`
  /// and `runner describe` when some options have no default. Optional.
  ConfigNode example;
  /// What this component will have (for a stage kind: what the stage provides), known before it runs, e.g. a
  /// tokenizer trainer's vocabulary size. Planning gives a component's facts to its sibling components: an
  /// option of theirs with a fact's name that the user left unset is filled with the fact (the encoder's
  /// vocab_size from the data's tokenizer), one set to another value is an error. Optional: without it, a
  /// tokenizer's facts come from building it ({"vocab_size": vocab_size()}), any other component's from its
  /// own component options.
  FactFunction facts;
  std::string plugin_name;  ///< set by the loader
  std::string plugin_file;  ///< absolute path of the .so, set by the loader

  ComponentInfo& with_provides(std::vector<std::string> kinds) {
    provides = std::move(kinds);
    return *this;
  }
  ComponentInfo& with_data_parallel() {
    data_parallel = true;
    return *this;
  }
  ComponentInfo& with_example(ConfigNode spec) {
    example = std::move(spec);
    return *this;
  }
  ComponentInfo& with_facts(FactFunction f) {
    facts = std::move(f);
    return *this;
  }
};

/// The component kinds the core knows, with a one-line description each. Plugins may register
/// components of other kinds too (a kind is just a name); these are the documented ones.
STAGEHAND_API const std::vector<std::pair<std::string, std::string>>& known_kinds();

/// What a plugin's registration function receives. Entries are staged here and committed to the
/// registry only if registration returns normally and no name clashes.
class STAGEHAND_API PluginRegistrar {
 public:
  /// Registers a component of interface type T (T::kKind names the kind). `factory` is callable as
  /// `std::shared_ptr<T>(const Options&, const BuildContext&)` or `std::shared_ptr<T>(const Options&)`.
  template <class T, class F>
  ComponentInfo& add(const std::string& name, const std::string& doc, Schema schema, F factory) {
    ComponentInfo info;
    info.kind = T::kKind;
    info.name = name;
    info.doc = doc;
    info.schema = std::make_shared<const Schema>(std::move(schema));
    if constexpr (std::is_invocable_v<F, const Options&, const BuildContext&>) {
      info.factory = [f = std::move(factory)](const Options& o, const BuildContext& c) -> std::shared_ptr<void> {
        std::shared_ptr<T> p = f(o, c);
        return std::static_pointer_cast<void>(p);
      };
    } else {
      info.factory = [f = std::move(factory)](const Options& o, const BuildContext&) -> std::shared_ptr<void> {
        std::shared_ptr<T> p = f(o);
        return std::static_pointer_cast<void>(p);
      };
    }
    return add_entry(std::move(info));
  }
  ComponentInfo& add_entry(ComponentInfo info);
  std::vector<ComponentInfo>& entries() { return entries_; }

 private:
  std::vector<ComponentInfo> entries_;
};

class STAGEHAND_API Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  /// Adds a component; throws if (kind, name) exists already, naming both plugin files.
  void add(ComponentInfo info);
  const ComponentInfo* find(const std::string& kind, const std::string& name) const;
  /// Like find, but throws "unknown <kind> '<name>'; did you mean ...; registered: ..." at `where`.
  const ComponentInfo& get(const std::string& kind, const std::string& name, const Location& where = {}) const;
  std::vector<const ComponentInfo*> list(const std::string& kind = "") const;
  std::vector<std::string> kinds() const;

  /// Validates `spec` (`{type: NAME, ...}`, or a stage name resolved through `ctx.provided`) and builds
  /// the component. Errors name the component and the location.
  std::shared_ptr<void> create(const std::string& kind, const ConfigNode& spec, const BuildContext& ctx) const;
  template <class T>
  std::shared_ptr<T> create(const ConfigNode& spec, const BuildContext& ctx) const {
    return std::static_pointer_cast<T>(create(T::kKind, spec, ctx));
  }

 private:
  std::map<std::pair<std::string, std::string>, ComponentInfo> entries_;
};

/// Fills the integer options of `spec` (a `kind` component, and recursively its inline component options) that
/// share a name with a fact: an option the user did not write (absent, null, a default or an earlier derived
/// value; Location::derived) takes the fact's value, with location "<from SOURCE>"; one the user wrote must equal
/// it, else an Error at the user's location names both values and the fix. `path` prefixes option names in
/// messages (e.g. "model"). Returns the filled copy.
STAGEHAND_API ConfigNode fill_facts(const ConfigNode& spec, const std::string& kind,
                                    const std::map<std::string, Fact>& facts, const Registry& registry,
                                    const std::string& path = "");

}  // namespace stagehand
