// SPDX-License-Identifier: Apache-2.0
// YAML <-> ConfigNode with locations, includes, overrides and ${...} references.
#include <algorithm>
#include <cctype>
#include <tuple>
#include <charconv>
#include <cstdint>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "stagehand/config.h"
#include "stagehand/schema.h"
#include "stagehand/utf8.h"

namespace stagehand {

void set_key_location(ConfigNode& map, const std::string& key, const Location& where);

namespace fs = std::filesystem;

namespace {

Location mark_location(const YAML::Mark& m, const std::string& name) {
  if (m.line < 0) return Location{name, 0, 0};
  return Location{name, m.line + 1, m.column + 1};
}

// yaml-cpp's node graph to ConfigNode trees. Aliases (*name) are expanded into copies, which gives two ways for a
// short file to explode, both found by fuzz/fuzz_resolve.cpp: an alias inside the node its anchor names (a cycle:
// endless recursion, a stack overflow), and aliases of aliases (each level multiplies the copies). The first is
// refused at the anchored node; the second stops at kMaxNodes values, far more than any pipeline holds.
constexpr size_t kMaxNodes = size_t{1} << 18;

class Converter {
 public:
  explicit Converter(const std::string& name) : name_(name) {}

  ConfigNode convert(const YAML::Node& node) {
    Location where = mark_location(node.Mark(), name_);
    if (++nodes_ > kMaxNodes)
      throw Error(fmt::format("the file expands past {} values: aliases (*name) that repeat aliases multiply at every "
                              "level; a pipeline needs far fewer, so remove the repetition",
                              kMaxNodes),
                  where);
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return ConfigNode::null(where);
      case YAML::NodeType::Scalar:
        // yaml-cpp tags quoted scalars with the non-specific tag "!".
        return ConfigNode::scalar(node.Scalar(), where, node.Tag() == "!");
      case YAML::NodeType::Sequence: {
        Open open(*this, node, where);
        std::vector<ConfigNode> items;
        for (const auto& item : node) items.push_back(convert(item));
        return ConfigNode::sequence(std::move(items), where);
      }
      case YAML::NodeType::Map: {
        Open open(*this, node, where);
        ConfigNode map = ConfigNode::map({}, where);
        for (const auto& kv : node) {
          if (!kv.first.IsScalar())
            throw Error("map keys must be plain names, not lists or maps", mark_location(kv.first.Mark(), name_));
          std::string key = kv.first.Scalar();
          Location kl = mark_location(kv.first.Mark(), name_);
          if (map.has(key))
            throw Error(fmt::format("duplicate key '{}' (first at {}); remove one of them", key,
                                    map.key_location(key).str()),
                        kl);
          map.set(key, convert(kv.second));
          set_key_location(map, key, kl);
        }
        return map;
      }
    }
    return ConfigNode::null(where);
  }

 private:
  // A list or map being converted; meeting it again inside itself means an alias to an enclosing anchor.
  struct Open {
    Open(Converter& c, const YAML::Node& node, const Location& where) : c_(c) {
      for (const auto& outer : c_.open_)
        if (outer.is(node))
          throw Error("an alias (*name) inside the very list or map its anchor (&name) names: that would be an "
                      "endless tree; copy the values instead",
                      where);
      c_.open_.push_back(node);
    }
    ~Open() { c_.open_.pop_back(); }
    Converter& c_;
  };

  const std::string& name_;
  std::vector<YAML::Node> open_;
  size_t nodes_ = 0;
};

}  // namespace

namespace {

/// file:line:column of byte `at` of `text`.
Location location_at(const std::string& text, size_t at, const std::string& name) {
  const auto end = text.begin() + static_cast<long>(std::min(at, text.size()));
  const size_t line = static_cast<size_t>(std::count(text.begin(), end, '\n')) + 1;
  const size_t line_start = at == 0 ? std::string::npos : text.rfind('\n', at - 1);
  const size_t col = at - (line_start == std::string::npos ? 0 : line_start + 1) + 1;
  return Location{name, static_cast<int>(line), static_cast<int>(col)};
}

/// The byte of the last `open` bracket before `end` that no `close` matches (quotes and comments skipped), or npos.
/// yaml-cpp reports an unclosed [ or { where it gave up looking, at the start of a later line or at the end of the
/// file; the mistake is the bracket.
size_t unclosed_bracket(const std::string& text, size_t end, char open, char close) {
  std::vector<size_t> opened;
  char quote = 0;
  for (size_t i = 0; i < std::min(end, text.size()); ++i) {
    const char c = text[i];
    if (quote) {
      if (c == quote) quote = 0;
      else if (c == '\\' && quote == '"') ++i;
      continue;
    }
    const bool token_start = i == 0 || std::isspace(static_cast<unsigned char>(text[i - 1])) ||
                             std::string("[{,:").find(text[i - 1]) != std::string::npos;
    if ((c == '"' || c == '\'') && token_start) {
      quote = c;  // a quoted scalar (an apostrophe inside a plain word, as in don't, is not)
    } else if (c == '#' && (i == 0 || std::isspace(static_cast<unsigned char>(text[i - 1])))) {
      const size_t newline = text.find('\n', i);
      if (newline == std::string::npos) break;
      i = newline;
    } else if (c == open) {
      opened.push_back(i);
    } else if (c == close && !opened.empty()) {
      opened.pop_back();
    }
  }
  return opened.empty() ? std::string::npos : opened.back();
}

[[noreturn]] void syntax_error(const std::string& text, const YAML::Exception& e, const std::string& name) {
  for (const auto& [what, open, close] : {std::tuple<const char*, char, char>{"sequence", '[', ']'},
                                          std::tuple<const char*, char, char>{"map", '{', '}'}}) {
    if (e.msg.find(fmt::format("end of {} flow not found", what)) == std::string::npos || e.mark.pos < 0) continue;
    const size_t at = unclosed_bracket(text, static_cast<size_t>(e.mark.pos), open, close);
    if (at != std::string::npos)
      throw Error(fmt::format("invalid YAML: this '{}' is never closed (expected '{}' before the end of the {}); "
                              "close it on the same line or write the items as an indented block",
                              open, close, what),
                  location_at(text, at, name));
  }
  throw Error(fmt::format("invalid YAML: {}", e.msg), mark_location(e.mark, name));
}

}  // namespace

ConfigNode parse_yaml(const std::string& text, const std::string& name) {
  if (const size_t bad = invalid_utf8_at(text, /*controls=*/true); bad != std::string::npos) {
    const auto byte = static_cast<unsigned char>(text[bad]);
    throw Error(byte < 0x80 ? fmt::format("control character 0x{:02x}, which YAML does not allow; remove it", byte)
                            : fmt::format("not valid UTF-8 (byte 0x{:02x}); YAML files are UTF-8: re-save the file "
                                          "in that encoding", byte),
                location_at(text, bad, name));
  }
  try {
    YAML::Node root = YAML::Load(text);
    return Converter(name).convert(root);
  } catch (const YAML::Exception& e) {
    syntax_error(text, e, name);
  }
}

ConfigNode load_yaml_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error(fmt::format("cannot read '{}': {}; check the path (relative paths are taken from the current "
                            "folder, {})",
                            path.string(), fs::exists(path) ? "permission denied" : "no such file",
                            fs::current_path().string()));
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_yaml(ss.str(), path.string());
}

ConfigNode merge(const ConfigNode& base, const ConfigNode& over) {
  if (base.is_map() && over.is_map()) {
    ConfigNode out = base.clone();
    for (const auto& [k, v] : over.entries()) {
      const ConfigNode* b = out.find(k);
      out.set(k, b ? merge(*b, v) : v.clone());
      set_key_location(out, k, over.key_location(k));
    }
    out.set_location(over.location().known() ? over.location() : base.location());
    return out;
  }
  return over.clone();
}

namespace {

ConfigNode expand_includes(const ConfigNode& node, const fs::path& dir, std::vector<fs::path>& stack) {
  if (node.is_sequence()) {
    std::vector<ConfigNode> items;
    for (const auto& item : node.items()) items.push_back(expand_includes(item, dir, stack));
    return ConfigNode::sequence(std::move(items), node.location());
  }
  if (!node.is_map()) return node;
  ConfigNode base = ConfigNode::map({}, node.location());
  if (const ConfigNode* inc = node.find("include")) {
    std::vector<ConfigNode> files;
    if (inc->is_scalar()) {
      files.push_back(*inc);
    } else if (inc->is_sequence()) {
      files = inc->items();
    } else {
      throw Error("include: expected a file path or a list of file paths", inc->location());
    }
    for (const auto& f : files) {
      fs::path p = (dir / f.as_string()).lexically_normal();
      fs::path canon;
      // A name the system refuses (too long, a NUL inside: found by fuzz_resolve) is the file's error, not a crash.
      std::error_code ec;
      const fs::file_status st = fs::status(p, ec);
      if (ec && ec != std::errc::no_such_file_or_directory)
        throw Error(fmt::format("include: cannot use '{}': {}", p.string(), ec.message()), f.location());
      if (!fs::exists(st))
        throw Error(fmt::format("include: file '{}' not found (paths are relative to the including file's folder "
                                "'{}')",
                                p.string(), dir.string()),
                    f.location());
      // Only regular files: a folder would read as nothing, and /dev/zero or a FIFO would never end.
      if (!fs::is_regular_file(st))
        throw Error(fmt::format("include: '{}' is not a regular file; include YAML files only", p.string()),
                    f.location());
      canon = fs::weakly_canonical(p, ec);
      if (ec) throw Error(fmt::format("include: cannot use '{}': {}", p.string(), ec.message()), f.location());
      for (const auto& s : stack)
        if (s == canon) throw Error(fmt::format("include: '{}' includes itself (cycle)", p.string()), f.location());
      stack.push_back(canon);
      ConfigNode included = expand_includes(load_yaml_file(p), p.parent_path(), stack);
      stack.pop_back();
      if (!included.is_map() && !included.is_null())
        throw Error(fmt::format("include: '{}' must hold a map at its top level, got a {}", p.string(),
                                included.type_name()),
                    f.location());
      if (included.is_map()) base = merge(base, included);
    }
  }
  ConfigNode own = ConfigNode::map({}, node.location());
  for (const auto& [k, v] : node.entries()) {
    if (k == "include") continue;
    own.set(k, expand_includes(v, dir, stack));
    set_key_location(own, k, node.key_location(k));
  }
  return merge(base, own);
}

}  // namespace

ConfigNode load_config_file(const fs::path& path) {
  ConfigNode root = load_yaml_file(path);
  std::vector<fs::path> stack{fs::weakly_canonical(path)};
  return expand_includes(root, path.parent_path(), stack);
}

namespace {

/// An override that reaches inside a stage (stages.NAME.key=value) must name a stage the pipeline declares: a typo
/// would otherwise add a stage of its own with no kind, reported far from its cause. A new stage is added by setting
/// it whole (stages.NAME={kind: ...}) or its kind first (stages.NAME.kind=KIND, then other keys).
void check_override_stage(const ConfigNode& root, const std::string& path, const std::string& assignment,
                          const Location& where) {
  const std::string prefix = "stages.";
  if (path.rfind(prefix, 0) != 0) return;
  const size_t end = path.find('.', prefix.size());
  const ConfigNode* stages = root.is_map() ? root.find("stages") : nullptr;
  if (end == std::string::npos || !stages || !stages->is_map()) return;
  const std::string name = path.substr(prefix.size(), end - prefix.size());
  if (stages->find(name) || path.substr(end + 1) == "kind") return;
  std::vector<std::string> names;
  for (const auto& [k, v] : stages->entries()) names.push_back(k);
  const std::string dym = closest_match(name, names);
  throw Error(fmt::format("override '{}': the pipeline has no stage '{}'{}; its stages are {} (a new stage starts "
                          "with stages.{}.kind=KIND)",
                          assignment, name, dym.empty() ? "" : fmt::format(" (did you mean '{}'?)", dym),
                          names.empty() ? std::string("none") : fmt::format("{}", fmt::join(names, ", ")), name),
              where);
}

}  // namespace

void apply_override(ConfigNode& root, const std::string& assignment, int arg_index) {
  Location where{fmt::format("<command line argument {}>", arg_index), 0, 0};
  size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw Error(fmt::format("override '{}' must look like key.path=value (e.g. "
                            "stages.finetune.optimizer.lr=3e-5)",
                            assignment),
                where);
  std::string path = assignment.substr(0, eq);
  std::string value = assignment.substr(eq + 1);
  check_override_stage(root, path, assignment, where);
  ConfigNode parsed = value.empty() ? ConfigNode::scalar("", where, true) : parse_yaml(value, where.file);
  std::function<void(ConfigNode&)> relocate = [&](ConfigNode& n) {
    n.set_location(where);
    if (n.is_sequence())
      for (auto& i : n.items()) relocate(i);
    if (n.is_map())
      for (auto& [k, v] : n.entries()) relocate(v);
  };
  relocate(parsed);
  if (!root.is_map()) root = ConfigNode::map({}, root.location());
  ConfigNode* cur = &root;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty()) throw Error(fmt::format("override '{}': empty key in path", assignment), where);
    if (dot == std::string::npos) {
      if (cur->is_sequence()) {
        size_t idx = 0;
        auto r = std::from_chars(part.data(), part.data() + part.size(), idx);
        if (r.ec != std::errc() || r.ptr != part.data() + part.size())
          throw Error(fmt::format("override '{}': '{}' is a list; use an index", assignment, part), where);
        if (idx >= cur->items().size())
          throw Error(fmt::format("override '{}': list index {} out of range", assignment, idx), where);
        cur->items()[idx] = parsed;
      } else {
        if (!cur->is_map() && !cur->is_null())
          throw Error(fmt::format("override '{}': '{}' is inside a {}, not a map", assignment, part,
                                  cur->type_name()),
                      where);
        cur->set(part, parsed);
        set_key_location(*cur, part, where);
      }
      return;
    }
    ConfigNode* next = nullptr;
    if (cur->is_sequence()) {
      size_t idx = 0;
      try {
        idx = std::stoul(part);
      } catch (...) {
        throw Error(fmt::format("override '{}': '{}' is a list; use an index", assignment, part), where);
      }
      if (idx >= cur->items().size())
        throw Error(fmt::format("override '{}': list index {} out of range", assignment, idx), where);
      next = &cur->items()[idx];
    } else {
      if (!cur->is_map()) *cur = ConfigNode::map({}, where);
      next = cur->find(part);
      if (!next) {
        cur->set(part, ConfigNode::map({}, where));
        next = cur->find(part);
      }
    }
    cur = next;
    start = dot + 1;
  }
}

namespace {

// Text and nodes that references may produce in one file. References can multiply: `a: "${b}${b}"`,
// `b: "${c}${c}"`, ... doubles at each level, so thirty lines would ask for gigabytes (found by fuzz_resolve). A real
// pipeline resolves to kilobytes; the limit only stops a file made (or mistyped) to blow up.
// A node counts 64 bytes besides its text (about what one costs in memory).
constexpr size_t kResolveBudget = size_t{16} << 20;
constexpr size_t kNodeWeight = 64;

size_t weight(const ConfigNode& n) {
  if (n.is_scalar()) return n.text().size() + kNodeWeight;
  size_t w = kNodeWeight;
  if (n.is_sequence())
    for (const auto& i : n.items()) w += weight(i);
  else if (n.is_map())
    for (const auto& [k, v] : n.entries()) w += k.size() + weight(v);
  return w;
}

struct RefResolver {
  ConfigNode& root;
  std::set<std::string> in_progress;
  std::set<std::string> done;
  size_t produced = 0;
  std::set<std::string> referenced;  // every ${path} looked up (not ${env:...})

  void spend(size_t amount, const std::string& ref, const Location& where) {
    produced += amount;
    if (produced > kResolveBudget)
      throw Error(fmt::format("'${{{}}}' takes the file's references past {} MiB of resolved text: references that "
                              "repeat references multiply at every level; a pipeline needs far less, so remove the "
                              "repetition",
                              ref, kResolveBudget >> 20),
                  where);
  }

  // Resolves references inside the node at `path` (a dotted path) in place.
  void resolve_path(const std::string& path, const Location& from) {
    if (done.count(path)) return;
    if (in_progress.count(path))
      throw Error(fmt::format("reference cycle through '${{{}}}'", path), from);
    ConfigNode* n = root.find_path(path);
    if (!n) {
      // The path may run through a value that is itself an unresolved ${...} reference (`y: ${x.lr}` with
      // `x: ${base}` declared later): resolve the longest existing prefix that is such a reference, then retry.
      for (size_t dot = path.rfind('.'); dot != std::string::npos && dot > 0; dot = path.rfind('.', dot - 1)) {
        std::string prefix = path.substr(0, dot);
        const ConfigNode* p = root.find_path(prefix);
        if (!p) continue;
        if (p->is_scalar() && p->text().find("${") != std::string::npos) resolve_path(prefix, from);
        break;
      }
      n = root.find_path(path);
      if (!n) return;
    }
    in_progress.insert(path);
    resolve_node(*n, path);
    in_progress.erase(path);
    done.insert(path);
  }

  ConfigNode lookup(const std::string& ref, const Location& where) {
    if (ref.rfind("env:", 0) == 0) {
      std::string name = ref.substr(4);
      std::string fallback;
      bool has_fallback = false;
      size_t d = name.find(":-");
      if (d != std::string::npos) {
        fallback = name.substr(d + 2);
        name = name.substr(0, d);
        has_fallback = true;
      }
      const char* v = std::getenv(name.c_str());
      if (!v && !has_fallback)
        throw Error(fmt::format("environment variable '{}' is not set (referenced as ${{env:{}}}); set it, or "
                                "give a default: ${{env:{}:-value}}",
                                name, name, name),
                    where);
      ConfigNode value = ConfigNode::scalar(v ? v : fallback, where, true);
      spend(weight(value), ref, where);
      return value;
    }
    referenced.insert(ref);
    resolve_path(ref, where);
    const ConfigNode* target = root.find_path(ref);
    if (!target) throw Error(missing_reference(ref), where);
    spend(weight(*target), ref, where);
    return target->clone();
  }

  // "does not name a value", with the closest key of the deepest map the path reaches.
  std::string missing_reference(const std::string& ref) const {
    const size_t dot = ref.rfind('.');
    const ConfigNode* parent = dot == std::string::npos ? &root : root.find_path(ref.substr(0, dot));
    std::string hint;
    if (parent && parent->is_map()) {
      std::vector<std::string> keys;
      for (const auto& [k, v] : parent->entries()) keys.push_back(k);
      const std::string last = dot == std::string::npos ? ref : ref.substr(dot + 1);
      if (std::string dym = closest_match(last, keys); !dym.empty())
        hint = fmt::format("; did you mean '${{{}}}'?", dot == std::string::npos ? dym : ref.substr(0, dot + 1) + dym);
    }
    return fmt::format("reference '${{{}}}' does not name a value of this file{} (write the full dotted path from the "
                       "top, e.g. ${{vars.max_length}} or ${{stages.pretrain.max_length}})",
                       ref, hint);
  }

  void resolve_node(ConfigNode& n, const std::string& path) {
    if (n.is_map()) {
      for (auto& [k, v] : n.entries()) resolve_child(v, path.empty() ? k : path + "." + k);
    } else if (n.is_sequence()) {
      for (size_t i = 0; i < n.items().size(); ++i)
        resolve_child(n.items()[i], path.empty() ? std::to_string(i) : path + "." + std::to_string(i));
    } else if (n.is_scalar()) {
      const std::string& t = n.text();
      if (t.find("${") == std::string::npos) return;
      // Whole-value reference keeps the target's type.
      if (t.size() > 3 && t.rfind("${", 0) == 0 && t.back() == '}' && t.find("${", 2) == std::string::npos &&
          t.find('}') == t.size() - 1) {
        n = lookup(t.substr(2, t.size() - 3), n.location());
        return;
      }
      std::string out;
      size_t i = 0;
      while (i < t.size()) {
        if (t.compare(i, 3, "$${") == 0) {
          out += "${";
          i += 3;
          continue;
        }
        if (t.compare(i, 2, "${") == 0) {
          size_t close = t.find('}', i);
          if (close == std::string::npos)
            throw Error(fmt::format("unterminated reference in '{}' (missing '}}')", t), n.location());
          ConfigNode v = lookup(t.substr(i + 2, close - i - 2), n.location());
          if (!v.is_scalar())
            throw Error(fmt::format("'{}' is a {} and cannot be pasted into text", t.substr(i, close - i + 1),
                                    v.type_name()),
                        n.location());
          out += v.text();
          i = close + 1;
          continue;
        }
        out += t[i++];
      }
      n = ConfigNode::scalar(out, n.location(), true);
    }
  }

  void resolve_child(ConfigNode& child, const std::string& path) {
    if (done.count(path)) return;
    in_progress.insert(path);
    resolve_node(child, path);
    in_progress.erase(path);
    done.insert(path);
  }
};

/// True when `s` reads back as the same plain (unquoted) scalar anywhere, flow collections included: printable ASCII
/// or UTF-8, no leading indicator, no ": " / " #" / flow punctuation, no surrounding spaces. yaml-cpp's emitter
/// writes some other texts plain too (":\r" among them, found by fuzzing), which then read back as something else.
bool plain_safe(const std::string& s) {
  if (s.empty() || s.front() == ' ' || s.back() == ' ' || s.back() == ':') return false;
  if (s.rfind("---", 0) == 0 || s.rfind("...", 0) == 0) return false;  // document markers at the start of a line
  static const std::string kIndicators = "-?:,[]{}#&*!|>'\"%@`";
  if (kIndicators.find(s.front()) != std::string::npos) {
    // "-1", "-x", ":x" and "?x" are plain; "- x", "-" alone are not.
    if (!(s.front() == '-' || s.front() == '?' || s.front() == ':') || s.size() < 2 || s[1] == ' ') return false;
  }
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) return false;
    if (c == ',' || c == '[' || c == ']' || c == '{' || c == '}') return false;
    if (c == ':' && i + 1 < s.size() && s[i + 1] == ' ') return false;
    if (c == '#' && i > 0 && s[i - 1] == ' ') return false;
  }
  return true;
}

void emit(YAML::Emitter& out, const ConfigNode& n) {
  switch (n.type()) {
    case ConfigNode::Type::Null:
      out << YAML::Null;
      break;
    case ConfigNode::Type::Scalar:
      if (n.quoted() || !plain_safe(n.text()))
        out << YAML::DoubleQuoted << n.text();
      else
        out << n.text();
      break;
    case ConfigNode::Type::Sequence: {
      bool flow = true;
      for (const auto& i : n.items())
        if (!i.is_scalar()) flow = false;
      if (flow && n.items().size() <= 16) out << YAML::Flow;
      out << YAML::BeginSeq;
      for (const auto& i : n.items()) emit(out, i);
      out << YAML::EndSeq;
      break;
    }
    case ConfigNode::Type::Map:
      out << YAML::BeginMap;
      for (const auto& [k, v] : n.entries()) {
        out << YAML::Key;
        if (plain_safe(k))
          out << k;
        else
          out << YAML::DoubleQuoted << k;  // keys too: "--- -", "a: b", "" ...
        out << YAML::Value;
        emit(out, v);
      }
      out << YAML::EndMap;
      break;
  }
}

nlohmann::json to_json(const ConfigNode& n) {
  switch (n.type()) {
    case ConfigNode::Type::Null: return nullptr;
    case ConfigNode::Type::Scalar:
      if (!n.quoted()) {
        if (n.is_int()) return n.as_int();
        if (n.is_bool()) return n.as_bool();
        if (n.is_double()) {
          double d = n.as_double();
          if (std::isfinite(d)) return d;
        }
        if (n.text() == "null" || n.text() == "~") return nullptr;
      }
      return n.text();
    case ConfigNode::Type::Sequence: {
      nlohmann::json a = nlohmann::json::array();
      for (const auto& i : n.items()) a.push_back(to_json(i));
      return a;
    }
    case ConfigNode::Type::Map: {
      nlohmann::json o = nlohmann::json::object();
      for (const auto& [k, v] : n.entries()) o[k] = to_json(v);
      return o;
    }
  }
  return nullptr;
}

}  // namespace

std::set<std::string> resolve_references(ConfigNode& root) {
  RefResolver r{root, {}, {}};
  r.resolve_node(root, "");
  return r.referenced;
}

std::string to_yaml(const ConfigNode& node) {
  YAML::Emitter out;
  out.SetIndent(2);
  emit(out, node);
  return std::string(out.c_str()) + "\n";
}

std::string to_canonical_json(const ConfigNode& node) { return to_json(node).dump(); }

std::vector<std::pair<std::string, Location>> provenance(const ConfigNode& node, const std::string& prefix) {
  std::vector<std::pair<std::string, Location>> out;
  std::function<void(const ConfigNode&, const std::string&)> walk = [&](const ConfigNode& n, const std::string& p) {
    if (n.is_map()) {
      for (const auto& [k, v] : n.entries()) walk(v, p.empty() ? k : p + "." + k);
    } else if (n.is_sequence()) {
      for (size_t i = 0; i < n.items().size(); ++i) walk(n.items()[i], p + "." + std::to_string(i));
    } else {
      out.emplace_back(p, n.location());
    }
  };
  walk(node, prefix);
  return out;
}

void restore_derived_locations(ConfigNode& node, const ConfigNode& recorded_provenance) {
  if (!recorded_provenance.is_map()) return;
  std::function<void(ConfigNode&, const std::string&)> walk = [&](ConfigNode& n, const std::string& p) {
    if (n.is_map()) {
      for (auto& [k, v] : n.entries()) walk(v, p.empty() ? k : p + "." + k);
    } else if (n.is_sequence()) {
      for (size_t i = 0; i < n.items().size(); ++i) walk(n.items()[i], p + "." + std::to_string(i));
    } else if (const ConfigNode* was = recorded_provenance.find(p); was && was->is_scalar()) {
      Location where{was->as_string(), 0, 0};
      if (where.derived()) n.set_location(where);
    }
  };
  walk(node, "");
}

}  // namespace stagehand
