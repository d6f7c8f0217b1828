// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Option schemas: every component declares its options (name, type, default, one-line doc). Validation
/// fills defaults, checks types, rejects unknown keys with a "did you mean", resolves relative paths and
/// collects references to other stages. Components read their values through `Options`.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "stagehand/config.h"
#include "stagehand/export.h"

namespace stagehand {

enum class OptionType {
  Bool,
  Int,
  Float,
  String,
  Path,       ///< an input file or folder that must exist; resolved relative to the file that names it
  Paths,      ///< a list of paths or glob patterns (a single string is accepted); each must match
  OutPath,    ///< a path that need not exist (resolved like Path)
  List,       ///< a list whose items have `item_type`
  Map,        ///< a free-form map (no validation inside)
  Any,        ///< anything
  Component,  ///< `{type: NAME, ...}` of `component_kind`, or the name of a stage that provides one
  Stage,      ///< the name of another stage (a dependency)
  Stages,     ///< a list of stage names
};
STAGEHAND_API const char* option_type_name(OptionType t);

struct STAGEHAND_API OptionSpec {
  std::string name;
  OptionType type = OptionType::Any;
  std::optional<ConfigNode> default_value;  ///< none: required (unless `nullable`)
  std::string doc;
  std::vector<std::string> choices;  ///< for String
  std::optional<double> min, max;    ///< for Int and Float (and List items)
  std::string component_kind;        ///< for Component (and List of Component)
  OptionType item_type = OptionType::Any;  ///< for List
  bool nullable = false;             ///< may be null / absent with no default
  /// "int", "float", "path", "list of float", "tokenizer component", ...
  std::string type_string() const;
};

/// An ordered list of option specs with a fluent builder:
///   Schema().opt("gamma", 2.0, "focusing parameter").min(0).choice("reduction", "mean", {"mean","sum"}, "...")
class STAGEHAND_API Schema {
 public:
  Schema& add(OptionSpec spec);
  template <class T>
  Schema& opt(const std::string& name, T default_value, const std::string& doc);
  /// A required option of the given type.
  Schema& required(const std::string& name, OptionType type, const std::string& doc);
  /// An optional option with no default (reads as absent).
  Schema& optional(const std::string& name, OptionType type, const std::string& doc);
  Schema& choice(const std::string& name, const std::string& default_value, std::vector<std::string> choices,
                 const std::string& doc);
  Schema& path(const std::string& name, const std::string& doc);          ///< required input path
  Schema& paths(const std::string& name, const std::string& doc);         ///< required list of paths/globs
  Schema& component(const std::string& name, const std::string& kind, const std::string& doc);
  Schema& component(const std::string& name, const std::string& kind, ConfigNode default_spec,
                    const std::string& doc);
  Schema& stage(const std::string& name, const std::string& doc);
  Schema& list(const std::string& name, OptionType item_type, ConfigNode default_value, const std::string& doc);
  /// Modifiers applied to the last option added.
  Schema& min(double v);
  Schema& max(double v);
  Schema& nullable();
  Schema& kind(const std::string& component_kind);
  /// The item type of the last option, a List (e.g. .items(OptionType::Component).kind("encoder"): a list whose
  /// items are encoder specs or names of stages that provide one).
  Schema& items(OptionType item_type);

  const std::vector<OptionSpec>& options() const { return options_; }
  const OptionSpec* find(const std::string& name) const;
  /// Adds every option of `other` that this schema does not declare yet.
  Schema& extend(const Schema& other);

 private:
  OptionSpec& last();
  std::vector<OptionSpec> options_;
};

/// What validation needs from its surroundings.
struct STAGEHAND_API ValidationScope {
  virtual ~ValidationScope();
  /// Schema of component `name` of `kind`; throws a "did you mean" error when unknown.
  virtual std::shared_ptr<const Schema> component_schema(const std::string& kind, const std::string& name,
                                                         const Location& where) const = 0;
  /// Called for every reference to another stage (Stage, Stages, or a Component given as a stage name).
  /// `kind` is the component kind the referenced stage must provide ("" for plain stage references).
  virtual void stage_reference(const std::string& stage, const std::string& kind, const Location& where) = 0;
  /// Called for every input file a Path/Paths option resolves to.
  virtual void input_file(const std::filesystem::path& file) {}
  /// Current working directory substitute for values without a file location (command line, defaults).
  std::filesystem::path default_base_dir = std::filesystem::current_path();
  /// When false, Path/Paths are resolved but not required to exist (used when reading records).
  bool check_files = true;
};

/// Validates `config` (a map) against `schema` and returns the resolved map: every declared option
/// present (defaults filled, their locations "<default>"), paths absolute, component specs validated
/// recursively. `owner` names the component in errors ("loss 'focal'"). `ignore` lists keys handled by
/// the caller (for example `type` or `kind`) that are kept as they are.
STAGEHAND_API ConfigNode validate(const ConfigNode& config, const Schema& schema, const std::string& owner,
                                  ValidationScope& scope, const std::vector<std::string>& ignore = {"type"});

/// Closest candidate by edit distance, or "" if nothing is close enough. Used for "did you mean".
STAGEHAND_API std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);
/// The noun with its indefinite article, for messages: "an encoder", "a model".
STAGEHAND_API std::string with_article(const std::string& noun);

/// A validated option map as a component sees it. Reads are typed; a read of an undeclared option is a
/// programming error (caught by `runner test-plugin`). Keeps track of what was read.
class STAGEHAND_API Options {
 public:
  Options();
  Options(ConfigNode resolved, std::shared_ptr<const Schema> schema, std::string owner);

  bool has(const std::string& name) const;  ///< declared, present and not null
  const ConfigNode& node(const std::string& name) const;
  template <class T>
  T get(const std::string& name) const;
  std::filesystem::path path(const std::string& name) const;
  std::vector<std::filesystem::path> paths(const std::string& name) const;

  const ConfigNode& resolved() const { return resolved_; }
  const Schema& schema() const { return *schema_; }
  const std::string& owner() const { return owner_; }
  std::set<std::string> read_keys() const;

 private:
  const ConfigNode& lookup(const std::string& name) const;
  ConfigNode resolved_;
  std::shared_ptr<const Schema> schema_;
  std::string owner_;
  std::shared_ptr<std::set<std::string>> read_;
};

// ---- template implementations
namespace detail {
template <class T>
ConfigNode to_node(const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    return ConfigNode::of(v);
  } else if constexpr (std::is_integral_v<T>) {
    return ConfigNode::of(static_cast<int64_t>(v));
  } else if constexpr (std::is_floating_point_v<T>) {
    return ConfigNode::of(static_cast<double>(v));
  } else {
    return ConfigNode::of(std::string(v));
  }
}
template <class T>
constexpr OptionType option_type_of() {
  if constexpr (std::is_same_v<T, bool>) {
    return OptionType::Bool;
  } else if constexpr (std::is_integral_v<T>) {
    return OptionType::Int;
  } else if constexpr (std::is_floating_point_v<T>) {
    return OptionType::Float;
  } else {
    return OptionType::String;
  }
}
STAGEHAND_API std::vector<double> read_double_list(const ConfigNode& n);
STAGEHAND_API std::vector<int64_t> read_int_list(const ConfigNode& n);
STAGEHAND_API std::vector<std::string> read_string_list(const ConfigNode& n);
}  // namespace detail

template <class T>
Schema& Schema::opt(const std::string& name, T default_value, const std::string& doc) {
  OptionSpec s;
  s.name = name;
  s.type = detail::option_type_of<std::decay_t<T>>();
  s.default_value = detail::to_node(default_value);
  s.doc = doc;
  return add(std::move(s));
}

template <class T>
T Options::get(const std::string& name) const {
  const ConfigNode& n = lookup(name);
  if constexpr (std::is_same_v<T, bool>) {
    return n.as_bool();
  } else if constexpr (std::is_integral_v<T>) {
    return static_cast<T>(n.as_int());
  } else if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(n.as_double());
  } else if constexpr (std::is_same_v<T, std::string>) {
    return n.as_string();
  } else if constexpr (std::is_same_v<T, std::vector<double>>) {
    return detail::read_double_list(n);
  } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
    return detail::read_int_list(n);
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    return detail::read_string_list(n);
  } else if constexpr (std::is_same_v<T, ConfigNode>) {
    return n;
  } else {
    static_assert(sizeof(T) == 0, "Options::get: unsupported type");
  }
}

}  // namespace stagehand
