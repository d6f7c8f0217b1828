// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Configuration as data with provenance: a YAML-like tree (null, scalar, sequence, map) in which every
/// node remembers the file, line and column it came from. Parsing, `include:`, `${...}` interpolation and
/// command-line overrides keep locations, so every error can point at the exact place to fix.
#include <cstdint>
#include <set>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "stagehand/error.h"
#include "stagehand/export.h"

namespace stagehand {

class STAGEHAND_API ConfigNode {
 public:
  enum class Type { Null, Scalar, Sequence, Map };
  using MapEntries = std::vector<std::pair<std::string, ConfigNode>>;

  ConfigNode();  ///< a null node with unknown location
  static ConfigNode null(Location where = {});
  /// A scalar keeps its text as written; `quoted` records that it was a quoted YAML string
  /// (so "1" stays a string and 1 may be read as an int).
  static ConfigNode scalar(std::string text, Location where = {}, bool quoted = false);
  static ConfigNode sequence(std::vector<ConfigNode> items = {}, Location where = {});
  static ConfigNode map(MapEntries entries = {}, Location where = {});
  /// Convenience constructors for values made in code.
  static ConfigNode of(const std::string& s, Location where = {});
  static ConfigNode of(const char* s, Location where = {});
  static ConfigNode of(bool b, Location where = {});
  static ConfigNode of(int64_t v, Location where = {});
  static ConfigNode of(int v, Location where = {}) { return of(static_cast<int64_t>(v), where); }
  static ConfigNode of(double v, Location where = {});

  Type type() const;
  bool is_null() const { return type() == Type::Null; }
  bool is_scalar() const { return type() == Type::Scalar; }
  bool is_sequence() const { return type() == Type::Sequence; }
  bool is_map() const { return type() == Type::Map; }
  const char* type_name() const;  ///< "null", "scalar", "list", "map"

  const Location& location() const;
  void set_location(const Location& where);

  // --- scalars
  const std::string& text() const;  ///< throws unless a scalar
  bool quoted() const;
  /// Typed reads. Each throws stagehand::Error at this node's location naming the expected type.
  std::string as_string() const;
  int64_t as_int() const;
  double as_double() const;
  bool as_bool() const;
  /// True when the scalar reads as that type (no exception).
  bool is_int() const;
  bool is_double() const;
  bool is_bool() const;

  // --- sequences
  size_t size() const;  ///< number of items (sequence) or entries (map); 0 otherwise
  const std::vector<ConfigNode>& items() const;
  std::vector<ConfigNode>& items();
  void push_back(ConfigNode item);

  // --- maps (insertion order is kept)
  const MapEntries& entries() const;
  MapEntries& entries();
  bool has(const std::string& key) const;
  const ConfigNode* find(const std::string& key) const;
  ConfigNode* find(const std::string& key);
  /// Throws at this map's location if the key is missing.
  const ConfigNode& at(const std::string& key) const;
  /// Inserts or replaces.
  void set(const std::string& key, ConfigNode value);
  bool erase(const std::string& key);
  /// Location of the key itself (falls back to the value's location).
  Location key_location(const std::string& key) const;

  /// Dotted path lookup ("stages.train.optimizer.lr"; list items by index: "a.0.b").
  const ConfigNode* find_path(const std::string& dotted) const;
  ConfigNode* find_path(const std::string& dotted);

  /// Deep copy (nodes share nothing afterwards).
  ConfigNode clone() const;
  /// Structural equality of values (locations ignored; scalars compared by text).
  bool equals(const ConfigNode& other) const;

 private:
  struct Data;
  std::shared_ptr<Data> d_;
  friend struct ConfigAccess;
};

/// Parses one YAML document. `name` is used in locations (usually the path as the user wrote it).
STAGEHAND_API ConfigNode parse_yaml(const std::string& text, const std::string& name);
/// Reads and parses a YAML file; errors name the file.
STAGEHAND_API ConfigNode load_yaml_file(const std::filesystem::path& path);
/// Loads a YAML file and expands `include:` keys at any map level (a path or list of paths, relative to
/// the including file; the including map's own keys override the included content, maps merge deeply).
STAGEHAND_API ConfigNode load_config_file(const std::filesystem::path& path);
/// Deep merge: `over` wins; maps merge key by key, everything else is replaced.
STAGEHAND_API ConfigNode merge(const ConfigNode& base, const ConfigNode& over);
/// Applies `a.b.c=value` overrides (value parsed as YAML flow). Locations read "<command line>:0:N"
/// with N the argument's position.
STAGEHAND_API void apply_override(ConfigNode& root, const std::string& assignment, int arg_index);
/// Replaces `${a.b.c}` (a path from the root) and `${env:NAME}` references. A scalar that is exactly one
/// reference takes the referenced node (any type); otherwise the text is substituted. Cycles and
/// missing targets are errors at the referring location. `$${` escapes a literal `${`. Returns the paths looked up
/// (every `${a.b.c}` but `${env:...}`), so that callers can tell which values nothing refers to.
STAGEHAND_API std::set<std::string> resolve_references(ConfigNode& root);

/// Writes a node as block YAML.
STAGEHAND_API std::string to_yaml(const ConfigNode& node);
/// Canonical one-line JSON (maps sorted by key, scalars typed as they read) used for hashing.
STAGEHAND_API std::string to_canonical_json(const ConfigNode& node);
/// Every scalar's dotted path with its location ("stages.train.lr" -> "p.yaml:12:9").
STAGEHAND_API std::vector<std::pair<std::string, Location>> provenance(const ConfigNode& node,
                                                                       const std::string& prefix = "");
/// Gives the values of `node` that nobody wrote (Location::derived: defaults, values derived from other
/// components) back the locations a record's `provenance` map (dotted path -> "<default>", "<from ...>",
/// "file:line:col") says they had, so that a replayed record derives them again instead of taking them as
/// written.
STAGEHAND_API void restore_derived_locations(ConfigNode& node, const ConfigNode& recorded_provenance);

}  // namespace stagehand
