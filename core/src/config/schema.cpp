// SPDX-License-Identifier: Apache-2.0
#include <glob.h>

#include <algorithm>
#include <functional>
#include <set>

#include "stagehand/schema.h"

namespace stagehand {

namespace fs = std::filesystem;

const char* option_type_name(OptionType t) {
  switch (t) {
    case OptionType::Bool: return "bool";
    case OptionType::Int: return "int";
    case OptionType::Float: return "float";
    case OptionType::String: return "string";
    case OptionType::Path: return "path";
    case OptionType::Paths: return "paths";
    case OptionType::OutPath: return "output path";
    case OptionType::List: return "list";
    case OptionType::Map: return "map";
    case OptionType::Any: return "any";
    case OptionType::Component: return "component";
    case OptionType::Stage: return "stage";
    case OptionType::Stages: return "stages";
  }
  return "?";
}

std::string OptionSpec::type_string() const {
  switch (type) {
    case OptionType::Component: return component_kind + " (spec or stage name)";
    case OptionType::List:
      if (item_type == OptionType::Component) return "list of " + component_kind + " (spec or stage name)";
      return std::string("list of ") + option_type_name(item_type);
    case OptionType::String:
      if (!choices.empty()) {
        std::string s;
        for (const auto& c : choices) s += (s.empty() ? "" : "|") + c;
        return s;
      }
      return "string";
    case OptionType::Paths: return "list of paths/globs";
    case OptionType::Stages: return "list of stage names";
    case OptionType::Stage: return "stage name";
    default: return option_type_name(type);
  }
}

Schema& Schema::add(OptionSpec spec) {
  for (auto& o : options_)
    if (o.name == spec.name) {
      o = std::move(spec);
      return *this;
    }
  options_.push_back(std::move(spec));
  return *this;
}
Schema& Schema::required(const std::string& name, OptionType type, const std::string& doc) {
  OptionSpec s;
  s.name = name;
  s.type = type;
  s.doc = doc;
  return add(std::move(s));
}
Schema& Schema::optional(const std::string& name, OptionType type, const std::string& doc) {
  OptionSpec s;
  s.name = name;
  s.type = type;
  s.doc = doc;
  s.nullable = true;
  return add(std::move(s));
}
Schema& Schema::choice(const std::string& name, const std::string& default_value, std::vector<std::string> choices,
                       const std::string& doc) {
  OptionSpec s;
  s.name = name;
  s.type = OptionType::String;
  s.default_value = ConfigNode::of(default_value);
  s.choices = std::move(choices);
  s.doc = doc;
  return add(std::move(s));
}
Schema& Schema::path(const std::string& name, const std::string& doc) {
  return required(name, OptionType::Path, doc);
}
Schema& Schema::paths(const std::string& name, const std::string& doc) {
  return required(name, OptionType::Paths, doc);
}
Schema& Schema::component(const std::string& name, const std::string& kind, const std::string& doc) {
  OptionSpec s;
  s.name = name;
  s.type = OptionType::Component;
  s.component_kind = kind;
  s.doc = doc;
  return add(std::move(s));
}
Schema& Schema::component(const std::string& name, const std::string& kind, ConfigNode default_spec,
                          const std::string& doc) {
  OptionSpec s;
  s.name = name;
  s.type = OptionType::Component;
  s.component_kind = kind;
  s.default_value = std::move(default_spec);
  s.doc = doc;
  return add(std::move(s));
}
Schema& Schema::stage(const std::string& name, const std::string& doc) {
  return required(name, OptionType::Stage, doc);
}
Schema& Schema::list(const std::string& name, OptionType item_type, ConfigNode default_value,
                     const std::string& doc) {
  OptionSpec s;
  s.name = name;
  s.type = OptionType::List;
  s.item_type = item_type;
  s.default_value = std::move(default_value);
  s.doc = doc;
  return add(std::move(s));
}
OptionSpec& Schema::last() {
  if (options_.empty()) throw Error("Schema: a modifier was applied before any option was added");
  return options_.back();
}
Schema& Schema::min(double v) {
  last().min = v;
  return *this;
}
Schema& Schema::max(double v) {
  last().max = v;
  return *this;
}
Schema& Schema::nullable() {
  last().nullable = true;
  return *this;
}
Schema& Schema::kind(const std::string& component_kind) {
  last().component_kind = component_kind;
  return *this;
}
Schema& Schema::items(OptionType item_type) {
  last().item_type = item_type;
  return *this;
}
const OptionSpec* Schema::find(const std::string& name) const {
  for (const auto& o : options_)
    if (o.name == name) return &o;
  return nullptr;
}
Schema& Schema::extend(const Schema& other) {
  for (const auto& o : other.options_)
    if (!find(o.name)) options_.push_back(o);
  return *this;
}

ValidationScope::~ValidationScope() = default;

namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
      // Damerau transposition ("optimzier")
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) cur[j] = std::min(cur[j], prev[j - 1]);
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string join(const std::vector<std::string>& v, const std::string& sep = ", ") {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

fs::path base_dir_of(const Location& where, const ValidationScope& scope) {
  if (where.known() && where.file[0] != '<') {
    fs::path p(where.file);
    return fs::absolute(p).parent_path();
  }
  return scope.default_base_dir;
}

std::string describe_value(const ConfigNode& n) {
  if (n.is_scalar()) {
    std::string t = n.text();
    if (t.size() > 60) t = t.substr(0, 57) + "...";
    return n.quoted() ? "the string '" + t + "'" : "'" + t + "'";
  }
  return std::string("a ") + n.type_name();
}

struct Validator {
  ValidationScope& scope;

  [[noreturn]] void fail(const std::string& owner, const std::string& opt, const std::string& msg,
                         const Location& where) {
    throw Error(fmt::format("{}: option '{}': {}", owner, opt, msg), where);
  }

  ConfigNode check(const OptionSpec& spec, OptionType type, const ConfigNode& v, const std::string& owner,
                   const std::string& opt) {
    const Location& where = v.location();
    if (v.is_null()) {
      if (spec.nullable || spec.default_value) return v;
      fail(owner, opt, fmt::format("expected {}, got null", spec.type_string()), where);
    }
    switch (type) {
      case OptionType::Bool:
        if (!v.is_bool()) fail(owner, opt, fmt::format("expected true or false, got {}", describe_value(v)), where);
        return v;
      case OptionType::Int:
      case OptionType::Float: return check_number(spec, type, v, owner, opt);
      case OptionType::String: return check_string(spec, v, owner, opt);
      case OptionType::Path:
      case OptionType::OutPath: return check_path(type, v, owner, opt);
      case OptionType::Paths: return check_paths(v, owner, opt);
      case OptionType::List: {
        if (!v.is_sequence()) fail(owner, opt, fmt::format("expected a list, got {}", describe_value(v)), where);
        std::vector<ConfigNode> out;
        OptionSpec item = spec;
        item.nullable = false;
        item.default_value.reset();
        for (size_t i = 0; i < v.items().size(); ++i)
          out.push_back(check(item, spec.item_type, v.items()[i], owner, fmt::format("{}[{}]", opt, i)));
        return ConfigNode::sequence(std::move(out), where);
      }
      case OptionType::Map:
        if (!v.is_map()) fail(owner, opt, fmt::format("expected a map, got {}", describe_value(v)), where);
        return v;
      case OptionType::Any: return v;
      case OptionType::Component: return check_component(spec, v, owner, opt);
      case OptionType::Stage:
        if (!v.is_scalar()) fail(owner, opt, fmt::format("expected a stage name, got {}", describe_value(v)), where);
        scope.stage_reference(v.text(), "", where);
        return v;
      case OptionType::Stages: return check_stages(v, owner, opt);
    }
    return v;
  }

  ConfigNode check_number(const OptionSpec& spec, OptionType type, const ConfigNode& v, const std::string& owner,
                          const std::string& opt) {
    const Location& where = v.location();
    double x = 0;
    if (type == OptionType::Int) {
      try {
        x = static_cast<double>(v.as_int());
      } catch (const Error&) {
        fail(owner, opt, fmt::format("expected an int, got {}", describe_value(v)), where);
      }
      if (spec.min && x < *spec.min)
        fail(owner, opt, fmt::format("must be >= {}, got {}", *spec.min, v.as_int()), where);
      if (spec.max && x > *spec.max)
        fail(owner, opt, fmt::format("must be <= {}, got {}", *spec.max, v.as_int()), where);
      return v;
    }
    if (!v.is_double() && !v.is_int()) fail(owner, opt, fmt::format("expected a float, got {}", describe_value(v)), where);
    x = v.is_int() ? static_cast<double>(v.as_int()) : v.as_double();
    if (spec.min && x < *spec.min) fail(owner, opt, fmt::format("must be >= {}, got {}", *spec.min, x), where);
    if (spec.max && x > *spec.max) fail(owner, opt, fmt::format("must be <= {}, got {}", *spec.max, x), where);
    return v;
  }

  ConfigNode check_string(const OptionSpec& spec, const ConfigNode& v, const std::string& owner,
                          const std::string& opt) {
    if (!v.is_scalar()) fail(owner, opt, fmt::format("expected a string, got {}", describe_value(v)), v.location());
    if (!spec.choices.empty() && std::find(spec.choices.begin(), spec.choices.end(), v.text()) == spec.choices.end()) {
      std::string dym = closest_match(v.text(), spec.choices);
      fail(owner, opt,
           fmt::format("'{}' is not one of {}{}", v.text(), join(spec.choices, " | "),
                       dym.empty() ? "" : fmt::format("; did you mean '{}'?", dym)),
           v.location());
    }
    return v;
  }

  ConfigNode check_path(OptionType type, const ConfigNode& v, const std::string& owner, const std::string& opt) {
    const Location& where = v.location();
    if (!v.is_scalar() || v.text().empty())
      fail(owner, opt, fmt::format("expected a file path, got {}", describe_value(v)), where);
    fs::path p(v.text());
    if (p.is_relative()) p = base_dir_of(where, scope) / p;
    p = p.lexically_normal();
    if (type == OptionType::Path) {
      if (scope.check_files && !fs::exists(p))
        fail(owner, opt,
             fmt::format("input file '{}' not found (relative paths are taken from the folder of the file "
                         "that names them)",
                         p.string()),
             where);
      scope.input_file(p);
    }
    return ConfigNode::scalar(p.string(), where, true);
  }

  ConfigNode check_paths(const ConfigNode& v, const std::string& owner, const std::string& opt) {
    std::vector<ConfigNode> patterns;
    if (v.is_scalar())
      patterns.push_back(v);
    else if (v.is_sequence())
      patterns = v.items();
    else
      fail(owner, opt, fmt::format("expected a list of paths or glob patterns, got {}", describe_value(v)),
           v.location());
    std::vector<ConfigNode> out;
    for (const auto& pat : patterns) {
      if (!pat.is_scalar()) fail(owner, opt, fmt::format("expected a path, got {}", describe_value(pat)), pat.location());
      fs::path p(pat.text());
      if (p.is_relative()) p = base_dir_of(pat.location(), scope) / p;
      const std::string s = p.lexically_normal().string();
      if (s.find_first_of("*?[") == std::string::npos) {
        if (scope.check_files && !fs::exists(s))
          fail(owner, opt, fmt::format("input file '{}' not found", s), pat.location());
        scope.input_file(s);
        out.push_back(ConfigNode::scalar(s, pat.location(), true));
        continue;
      }
      glob_t g{};
      int rc = ::glob(s.c_str(), 0, nullptr, &g);
      std::vector<std::string> matches;
      if (rc == 0)
        for (size_t i = 0; i < g.gl_pathc; ++i) matches.emplace_back(g.gl_pathv[i]);
      globfree(&g);
      if (matches.empty() && scope.check_files)
        fail(owner, opt, fmt::format("pattern '{}' matches no file", s), pat.location());
      std::sort(matches.begin(), matches.end());
      for (const auto& m : matches) {
        scope.input_file(m);
        out.push_back(ConfigNode::scalar(m, pat.location(), true));
      }
    }
    return ConfigNode::sequence(std::move(out), v.location());
  }

  ConfigNode check_component(const OptionSpec& spec, const ConfigNode& v, const std::string& owner,
                             const std::string& opt) {
    if (v.is_scalar()) {
      scope.stage_reference(v.text(), spec.component_kind, v.location());
      return v;
    }
    if (!v.is_map())
      fail(owner, opt,
           fmt::format("expected {} spec such as {{type: NAME, ...}} or the name of a stage, got {}",
                       with_article(spec.component_kind), describe_value(v)),
           v.location());
    const ConfigNode* type_node = v.find("type");
    if (!type_node || !type_node->is_scalar())
      fail(owner, opt,
           fmt::format("{} spec needs 'type: NAME' (see `runner plugins` for the names)",
                       with_article(spec.component_kind)),
           v.location());
    auto schema = scope.component_schema(spec.component_kind, type_node->text(), type_node->location());
    return validate(v, *schema, fmt::format("{} '{}'", spec.component_kind, type_node->text()), scope);
  }

  ConfigNode check_stages(const ConfigNode& v, const std::string& owner, const std::string& opt) {
    std::vector<ConfigNode> names;
    if (v.is_scalar())
      names.push_back(v);
    else if (v.is_sequence())
      names = v.items();
    else
      fail(owner, opt, fmt::format("expected a list of stage names, got {}", describe_value(v)), v.location());
    for (const auto& n : names) {
      if (!n.is_scalar()) fail(owner, opt, fmt::format("expected a stage name, got {}", describe_value(n)), n.location());
      scope.stage_reference(n.text(), "", n.location());
    }
    return ConfigNode::sequence(names, v.location());
  }
};

}  // namespace

std::string with_article(const std::string& noun) {
  const bool vowel = !noun.empty() && std::string("aeiouAEIOU").find(noun[0]) != std::string::npos;
  return (vowel ? "an " : "a ") + noun;
}

std::string closest_match(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::string::npos;
  for (const auto& c : candidates) {
    size_t d = edit_distance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  if (best.empty()) return "";
  size_t limit = std::max<size_t>(2, std::max(word.size(), best.size()) / 3);
  return best_d <= limit ? best : "";
}

ConfigNode validate(const ConfigNode& config, const Schema& schema, const std::string& owner,
                    ValidationScope& scope, const std::vector<std::string>& ignore) {
  if (!config.is_map() && !config.is_null())
    throw Error(fmt::format("{}: expected a map of options, got a {}", owner, config.type_name()),
                config.location());
  ConfigNode out = ConfigNode::map({}, config.location());
  std::vector<std::string> names;
  for (const auto& o : schema.options()) names.push_back(o.name);
  if (config.is_map()) {
    for (const auto& [k, v] : config.entries()) {
      if (std::find(ignore.begin(), ignore.end(), k) != ignore.end()) {
        out.set(k, v);
        continue;
      }
      if (!schema.find(k)) {
        std::string dym = closest_match(k, names);
        std::string hint = dym.empty() ? fmt::format("known options: {}", names.empty() ? "(none)" : join(names))
                                       : fmt::format("did you mean '{}'?", dym);
        throw Error(fmt::format("{}: unknown option '{}'; {}", owner, k, hint), config.key_location(k));
      }
    }
  }
  Validator val{scope};
  for (const auto& spec : schema.options()) {
    const ConfigNode* given = config.is_map() ? config.find(spec.name) : nullptr;
    // An explicit null for an option that has a default and is not nullable stands for the default.
    if (given && given->is_null() && spec.default_value && !spec.nullable) given = nullptr;
    if (given) {
      out.set(spec.name, val.check(spec, spec.type, *given, owner, spec.name));
    } else if (spec.default_value) {
      ConfigNode d = spec.default_value->clone();
      Location def{"<default>", 0, 0};
      std::function<void(ConfigNode&)> mark = [&](ConfigNode& n) {
        n.set_location(def);
        if (n.is_map())
          for (auto& [k, v] : n.entries()) mark(v);
        if (n.is_sequence())
          for (auto& i : n.items()) mark(i);
      };
      mark(d);
      out.set(spec.name, d.is_null() ? d : val.check(spec, spec.type, d, owner, spec.name));
    } else if (spec.nullable) {
      out.set(spec.name, ConfigNode::null(Location{"<default>", 0, 0}));
    } else {
      throw Error(fmt::format("{}: missing required option '{}' ({}: {})", owner, spec.name, spec.type_string(),
                              spec.doc),
                  config.location());
    }
  }
  return out;
}

// ---- Options

Options::Options() : schema_(std::make_shared<Schema>()), read_(std::make_shared<std::set<std::string>>()) {}
Options::Options(ConfigNode resolved, std::shared_ptr<const Schema> schema, std::string owner)
    : resolved_(std::move(resolved)),
      schema_(std::move(schema)),
      owner_(std::move(owner)),
      read_(std::make_shared<std::set<std::string>>()) {}

const ConfigNode& Options::lookup(const std::string& name) const {
  if (!schema_->find(name))
    throw Error(fmt::format("{} reads option '{}' which its schema does not declare; add it to the schema passed "
                            "at registration",
                            owner_, name));
  read_->insert(name);
  static const ConfigNode kNull;
  const ConfigNode* n = resolved_.find(name);
  return n ? *n : kNull;
}
bool Options::has(const std::string& name) const { return !lookup(name).is_null(); }
const ConfigNode& Options::node(const std::string& name) const { return lookup(name); }
fs::path Options::path(const std::string& name) const { return fs::path(lookup(name).as_string()); }
std::vector<fs::path> Options::paths(const std::string& name) const {
  const ConfigNode& n = lookup(name);
  std::vector<fs::path> out;
  if (n.is_null()) return out;
  for (const auto& i : n.items()) out.emplace_back(i.as_string());
  return out;
}
std::set<std::string> Options::read_keys() const { return *read_; }

namespace detail {
std::vector<double> read_double_list(const ConfigNode& n) {
  std::vector<double> out;
  if (n.is_null()) return out;
  for (const auto& i : n.items()) out.push_back(i.is_int() ? static_cast<double>(i.as_int()) : i.as_double());
  return out;
}
std::vector<int64_t> read_int_list(const ConfigNode& n) {
  std::vector<int64_t> out;
  if (n.is_null()) return out;
  for (const auto& i : n.items()) out.push_back(i.as_int());
  return out;
}
std::vector<std::string> read_string_list(const ConfigNode& n) {
  std::vector<std::string> out;
  if (n.is_null()) return out;
  if (n.is_scalar()) return {n.as_string()};
  for (const auto& i : n.items()) out.push_back(i.as_string());
  return out;
}
}  // namespace detail

}  // namespace stagehand
