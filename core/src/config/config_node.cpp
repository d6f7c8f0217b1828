// SPDX-License-Identifier: Apache-2.0
#include <algorithm>
#include <charconv>
#include <utility>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "stagehand/config.h"

namespace stagehand {

struct ConfigNode::Data {
  Type type = Type::Null;
  Location where;
  std::string text;
  bool quoted = false;
  std::vector<ConfigNode> items;
  MapEntries entries;
  std::vector<Location> key_locations;  // parallel to entries
};

namespace {
std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}
std::string shorten(const std::string& s) { return s.size() > 60 ? s.substr(0, 57) + "..." : s; }
}  // namespace

ConfigNode::ConfigNode() : d_(std::make_shared<Data>()) {}

ConfigNode ConfigNode::null(Location where) {
  ConfigNode n;
  n.d_->where = std::move(where);
  return n;
}
ConfigNode ConfigNode::scalar(std::string text, Location where, bool quoted) {
  ConfigNode n;
  n.d_->type = Type::Scalar;
  n.d_->text = std::move(text);
  n.d_->where = std::move(where);
  n.d_->quoted = quoted;
  return n;
}
ConfigNode ConfigNode::sequence(std::vector<ConfigNode> items, Location where) {
  ConfigNode n;
  n.d_->type = Type::Sequence;
  n.d_->items = std::move(items);
  n.d_->where = std::move(where);
  return n;
}
ConfigNode ConfigNode::map(MapEntries entries, Location where) {
  ConfigNode n;
  n.d_->type = Type::Map;
  n.d_->where = std::move(where);
  for (auto& [k, v] : entries) n.set(k, v);
  return n;
}
ConfigNode ConfigNode::of(const std::string& s, Location where) { return scalar(s, std::move(where), true); }
ConfigNode ConfigNode::of(const char* s, Location where) { return scalar(s, std::move(where), true); }
ConfigNode ConfigNode::of(bool b, Location where) { return scalar(b ? "true" : "false", std::move(where)); }
ConfigNode ConfigNode::of(int64_t v, Location where) { return scalar(std::to_string(v), std::move(where)); }
ConfigNode ConfigNode::of(double v, Location where) {
  if (std::isnan(v)) return scalar(".nan", std::move(where));
  if (std::isinf(v)) return scalar(v > 0 ? ".inf" : "-.inf", std::move(where));
  std::string s = fmt::format("{}", v);  // shortest round-trip form
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return scalar(s, std::move(where));
}

ConfigNode::Type ConfigNode::type() const { return d_->type; }
const char* ConfigNode::type_name() const {
  switch (d_->type) {
    case Type::Null: return "null";
    case Type::Scalar: return "scalar";
    case Type::Sequence: return "list";
    case Type::Map: return "map";
  }
  return "?";
}
const Location& ConfigNode::location() const { return d_->where; }
void ConfigNode::set_location(const Location& where) { d_->where = where; }

const std::string& ConfigNode::text() const {
  if (d_->type != Type::Scalar)
    throw Error(fmt::format("expected a single value, got a {}", type_name()), d_->where);
  return d_->text;
}
bool ConfigNode::quoted() const { return d_->quoted; }

std::string ConfigNode::as_string() const {
  if (d_->type != Type::Scalar)
    throw Error(fmt::format("expected a string, got a {}", type_name()), d_->where);
  return d_->text;
}

bool ConfigNode::is_int() const {
  if (d_->type != Type::Scalar || d_->quoted) return false;
  const std::string& t = d_->text;
  const char* b = t.data();
  const char* e = t.data() + t.size();
  if (b != e && *b == '+') ++b;
  int64_t v = 0;
  auto r = std::from_chars(b, e, v);
  return r.ec == std::errc() && r.ptr == e && b != e;
}
int64_t ConfigNode::as_int() const {
  if (!is_int()) {
    // Accept integral floats written like 1e4 or 3.0 (common in configs).
    if (is_double()) {
      double d = as_double();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) return static_cast<int64_t>(d);
    }
    throw Error(fmt::format("expected an integer, got {} '{}'", d_->quoted ? "the string" : "the value",
                            d_->type == Type::Scalar ? shorten(d_->text) : type_name()),
                d_->where);
  }
  const std::string& t = d_->text;
  const char* b = t.data() + (t[0] == '+' ? 1 : 0);
  int64_t v = 0;
  std::from_chars(b, t.data() + t.size(), v);
  return v;
}
bool ConfigNode::is_double() const {
  if (d_->type != Type::Scalar || d_->quoted || d_->text.empty()) return false;
  std::string l = lower(d_->text);
  if (l == ".inf" || l == "+.inf" || l == "-.inf" || l == ".nan") return true;
  // Only decimal notation: strtod alone would also take "inf", "nan" and hex floats.
  if (l.find_first_not_of("0123456789+-.e") != std::string::npos) return false;
  if (l.find_first_of("0123456789") == std::string::npos) return false;
  char* end = nullptr;
  std::strtod(d_->text.c_str(), &end);
  return end == d_->text.c_str() + d_->text.size();
}
double ConfigNode::as_double() const {
  if (!is_double())
    throw Error(fmt::format("expected a number, got {} '{}'", d_->quoted ? "the string" : "the value",
                            d_->type == Type::Scalar ? shorten(d_->text) : type_name()),
                d_->where);
  std::string l = lower(d_->text);
  if (l == ".inf" || l == "+.inf") return std::numeric_limits<double>::infinity();
  if (l == "-.inf") return -std::numeric_limits<double>::infinity();
  if (l == ".nan") return std::numeric_limits<double>::quiet_NaN();
  return std::strtod(d_->text.c_str(), nullptr);
}
bool ConfigNode::is_bool() const {
  if (d_->type != Type::Scalar || d_->quoted) return false;
  std::string l = lower(d_->text);
  return l == "true" || l == "false" || l == "yes" || l == "no" || l == "on" || l == "off";
}
bool ConfigNode::as_bool() const {
  if (!is_bool())
    throw Error(fmt::format("expected true or false, got '{}'",
                            d_->type == Type::Scalar ? shorten(d_->text) : type_name()),
                d_->where);
  std::string l = lower(d_->text);
  return l == "true" || l == "yes" || l == "on";
}

size_t ConfigNode::size() const {
  if (d_->type == Type::Sequence) return d_->items.size();
  if (d_->type == Type::Map) return d_->entries.size();
  return 0;
}
const std::vector<ConfigNode>& ConfigNode::items() const {
  if (d_->type != Type::Sequence) throw Error(fmt::format("expected a list, got a {}", type_name()), d_->where);
  return d_->items;
}
std::vector<ConfigNode>& ConfigNode::items() {
  if (d_->type != Type::Sequence) throw Error(fmt::format("expected a list, got a {}", type_name()), d_->where);
  return d_->items;
}
void ConfigNode::push_back(ConfigNode item) {
  if (d_->type == Type::Null) d_->type = Type::Sequence;
  items().push_back(std::move(item));
}

const ConfigNode::MapEntries& ConfigNode::entries() const {
  if (d_->type != Type::Map) throw Error(fmt::format("expected a map, got a {}", type_name()), d_->where);
  return d_->entries;
}
ConfigNode::MapEntries& ConfigNode::entries() {
  if (d_->type != Type::Map) throw Error(fmt::format("expected a map, got a {}", type_name()), d_->where);
  return d_->entries;
}
bool ConfigNode::has(const std::string& key) const { return find(key) != nullptr; }
const ConfigNode* ConfigNode::find(const std::string& key) const {
  if (d_->type != Type::Map) return nullptr;
  for (auto& [k, v] : d_->entries)
    if (k == key) return &v;
  return nullptr;
}
ConfigNode* ConfigNode::find(const std::string& key) {
  if (d_->type != Type::Map) return nullptr;
  for (auto& [k, v] : d_->entries)
    if (k == key) return &v;
  return nullptr;
}
const ConfigNode& ConfigNode::at(const std::string& key) const {
  const ConfigNode* n = find(key);
  if (!n) throw Error(fmt::format("missing key '{}'", key), d_->where);
  return *n;
}
void ConfigNode::set(const std::string& key, ConfigNode value) {
  if (d_->type == Type::Null) d_->type = Type::Map;
  if (d_->type != Type::Map) throw Error(fmt::format("cannot set '{}' on a {}", key, type_name()), d_->where);
  for (size_t i = 0; i < d_->entries.size(); ++i) {
    if (d_->entries[i].first == key) {
      d_->entries[i].second = std::move(value);
      return;
    }
  }
  Location kl = value.location();
  d_->entries.emplace_back(key, std::move(value));
  d_->key_locations.push_back(kl);
}
bool ConfigNode::erase(const std::string& key) {
  if (d_->type != Type::Map) return false;
  for (size_t i = 0; i < d_->entries.size(); ++i) {
    if (d_->entries[i].first == key) {
      d_->entries.erase(d_->entries.begin() + static_cast<long>(i));
      d_->key_locations.erase(d_->key_locations.begin() + static_cast<long>(i));
      return true;
    }
  }
  return false;
}
Location ConfigNode::key_location(const std::string& key) const {
  if (d_->type != Type::Map) return d_->where;
  for (size_t i = 0; i < d_->entries.size(); ++i)
    if (d_->entries[i].first == key)
      return d_->key_locations[i].known() ? d_->key_locations[i] : d_->entries[i].second.location();
  return d_->where;
}

struct ConfigAccess {
  static void set_key_location(ConfigNode& map, const std::string& key, const Location& where) {
    auto& d = *map.d_;
    for (size_t i = 0; i < d.entries.size(); ++i)
      if (d.entries[i].first == key) d.key_locations[i] = where;
  }
};
void set_key_location(ConfigNode& map, const std::string& key, const Location& where) {
  ConfigAccess::set_key_location(map, key, where);
}

ConfigNode* ConfigNode::find_path(const std::string& dotted) {
  // The same walk as the const lookup; a node reached from a non-const root may be changed.
  return const_cast<ConfigNode*>(std::as_const(*this).find_path(dotted));
}

const ConfigNode* ConfigNode::find_path(const std::string& dotted) const {
  const ConfigNode* cur = this;
  size_t start = 0;
  while (cur && start <= dotted.size()) {
    size_t dot = dotted.find('.', start);
    std::string part = dotted.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (cur->is_map()) {
      cur = cur->find(part);
    } else if (cur->is_sequence()) {
      size_t idx = 0;
      auto r = std::from_chars(part.data(), part.data() + part.size(), idx);
      if (r.ec != std::errc() || r.ptr != part.data() + part.size() || idx >= cur->items().size()) return nullptr;
      cur = &cur->items()[idx];
    } else {
      return nullptr;
    }
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return cur;
}

ConfigNode ConfigNode::clone() const {
  ConfigNode n;
  *n.d_ = *d_;
  for (auto& item : n.d_->items) item = item.clone();
  for (auto& [k, v] : n.d_->entries) v = v.clone();
  return n;
}

bool ConfigNode::equals(const ConfigNode& other) const {
  if (type() != other.type()) return false;
  switch (type()) {
    case Type::Null: return true;
    case Type::Scalar: return d_->text == other.d_->text;
    case Type::Sequence:
      if (d_->items.size() != other.d_->items.size()) return false;
      for (size_t i = 0; i < d_->items.size(); ++i)
        if (!d_->items[i].equals(other.d_->items[i])) return false;
      return true;
    case Type::Map:
      if (d_->entries.size() != other.d_->entries.size()) return false;
      for (auto& [k, v] : d_->entries) {
        const ConfigNode* o = other.find(k);
        if (!o || !v.equals(*o)) return false;
      }
      return true;
  }
  return false;
}

}  // namespace stagehand
