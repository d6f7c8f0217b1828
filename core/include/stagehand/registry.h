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

}  // namespace stagehand
