// SPDX-License-Identifier: Apache-2.0
#include "plugin/declarations.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "stagehand/files.h"
#include "util/hash.h"

namespace stagehand {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Format of the file; a reader meeting another treats the file as absent.
constexpr int kFormat = 1;

// Nodes exactly as they are, quoting included ("1" stays a string): a scalar is [text, quoted], a list {"list": [...]},
// a map {"map": [[key, value], ...]} (order kept), null is null. Locations are not kept.
json node_json(const ConfigNode& n) {
  switch (n.type()) {
    case ConfigNode::Type::Null: return nullptr;
    case ConfigNode::Type::Scalar: return json::array({n.text(), n.quoted()});
    case ConfigNode::Type::Sequence: {
      json items = json::array();
      for (const auto& i : n.items()) items.push_back(node_json(i));
      return json{{"list", items}};
    }
    case ConfigNode::Type::Map: {
      json entries = json::array();
      for (const auto& [k, v] : n.entries()) entries.push_back(json::array({k, node_json(v)}));
      return json{{"map", entries}};
    }
  }
  return nullptr;
}

ConfigNode json_node(const json& j) {
  if (j.is_null()) return ConfigNode::null();
  if (j.is_array()) return ConfigNode::scalar(j.at(0).get<std::string>(), {}, j.at(1).get<bool>());
  if (j.contains("list")) {
    std::vector<ConfigNode> items;
    for (const auto& i : j.at("list")) items.push_back(json_node(i));
    return ConfigNode::sequence(std::move(items));
  }
  ConfigNode::MapEntries entries;
  for (const auto& e : j.at("map")) entries.emplace_back(e.at(0).get<std::string>(), json_node(e.at(1)));
  return ConfigNode::map(std::move(entries));
}

json option_json(const OptionSpec& o) {
  json j{{"name", o.name},           {"type", static_cast<int>(o.type)},        {"doc", o.doc},
         {"choices", o.choices},     {"component_kind", o.component_kind},     {"item_type", static_cast<int>(o.item_type)},
         {"nullable", o.nullable}};
  if (o.default_value) j["default"] = node_json(*o.default_value);
  if (o.min) j["min"] = *o.min;
  if (o.max) j["max"] = *o.max;
  return j;
}

OptionSpec json_option(const json& j) {
  OptionSpec o;
  o.name = j.at("name").get<std::string>();
  o.type = static_cast<OptionType>(j.at("type").get<int>());
  o.doc = j.at("doc").get<std::string>();
  o.choices = j.at("choices").get<std::vector<std::string>>();
  o.component_kind = j.at("component_kind").get<std::string>();
  o.item_type = static_cast<OptionType>(j.at("item_type").get<int>());
  o.nullable = j.at("nullable").get<bool>();
  if (j.contains("default")) o.default_value = json_node(j.at("default"));
  if (j.contains("min")) o.min = j.at("min").get<double>();
  if (j.contains("max")) o.max = j.at("max").get<double>();
  return o;
}

}  // namespace

NeedsPluginCode::NeedsPluginCode(const std::string& why) : std::runtime_error(why) {}
NeedsPluginCode::~NeedsPluginCode() = default;

fs::path declaration_file(const fs::path& plugin) { return fs::path(plugin.string() + ".decl.json"); }

void write_declarations(const LoadedPlugin& plugin, const Registry& registry, const DeclarationOptions& options) {
  json components = json::array();
  for (const auto& id : plugin.components) {
    const auto slash = id.find('/');
    const ComponentInfo& c = registry.get(id.substr(0, slash), id.substr(slash + 1));
    json opts = json::array();
    for (const auto& o : c.schema->options()) opts.push_back(option_json(o));
    components.push_back(json{{"kind", c.kind}, {"name", c.name}, {"doc", c.doc}, {"provides", c.provides},
                              {"data_parallel", c.data_parallel}, {"example", node_json(c.example)},
                              {"has_facts", static_cast<bool>(c.facts)}, {"options", opts}});
  }
  const auto& m = plugin.manifest;
  json out{{"format", kFormat},
           {"sha256", plugin.sha256},
           {"manifest_version", m.manifest_version},
           {"abi", m.abi},
           {"torch", {m.torch_major, m.torch_minor, m.torch_patch}},
           {"cxx11_abi", m.cxx11_abi},
           {"cplusplus", m.cplusplus},
           {"compiler_id", m.compiler_id},
           {"compiler_major", m.compiler_major},
           {"name", plugin.name},
           {"version", plugin.version},
           {"stagehand_version", m.stagehand_version},
           {"light", options.light},
           {"components", components}};
  if (!options.facts.empty()) {
    const fs::path facts = fs::absolute(options.facts).lexically_normal();
    SH_CHECK(fs::is_regular_file(facts), "the facts companion '{}' of plugin '{}' does not exist; build it first",
             facts.string(), plugin.file.string());
    out["facts"] = {{"file", facts.lexically_relative(plugin.file.parent_path()).string()},
                    {"sha256", sha256_file(facts)}};
  }
  write_file_atomic(declaration_file(plugin.file), out.dump(1) + "\n");
}

Declarations read_declarations(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw NeedsPluginCode(fmt::format("no declaration file {}", file.string()));
  try {
    const json j = json::parse(in);
    if (j.value("format", 0) != kFormat)
      throw NeedsPluginCode(fmt::format("declaration file {} has format {}, this runner reads {}", file.string(),
                                        j.value("format", 0), kFormat));
    Declarations d;
    d.sha256 = j.at("sha256").get<std::string>();
    ManifestFacts& m = d.manifest;
    m.manifest_version = j.at("manifest_version").get<uint32_t>();
    m.abi = j.at("abi").get<uint32_t>();
    const auto& t = j.at("torch");
    m.torch_major = t.at(0).get<int>();
    m.torch_minor = t.at(1).get<int>();
    m.torch_patch = t.at(2).get<int>();
    m.cxx11_abi = j.at("cxx11_abi").get<int>();
    m.cplusplus = j.at("cplusplus").get<int>();
    m.compiler_id = j.at("compiler_id").get<std::string>();
    m.compiler_major = j.at("compiler_major").get<int>();
    m.stagehand_version = j.at("stagehand_version").get<std::string>();
    d.name = j.at("name").get<std::string>();
    d.version = j.at("version").get<std::string>();
    d.light = j.at("light").get<bool>();
    if (j.contains("facts")) {
      d.facts = (file.parent_path() / j.at("facts").at("file").get<std::string>()).lexically_normal();
      d.facts_sha256 = j.at("facts").at("sha256").get<std::string>();
    }
    for (const auto& c : j.at("components")) {
      ComponentInfo info;
      info.kind = c.at("kind").get<std::string>();
      info.name = c.at("name").get<std::string>();
      info.doc = c.at("doc").get<std::string>();
      info.provides = c.at("provides").get<std::vector<std::string>>();
      info.data_parallel = c.at("data_parallel").get<bool>();
      info.example = json_node(c.at("example"));
      Schema schema;
      for (const auto& o : c.at("options")) schema.add(json_option(o));
      info.schema = std::make_shared<const Schema>(std::move(schema));
      d.components.push_back(std::move(info));
      d.has_facts.push_back(c.at("has_facts").get<bool>());
    }
    return d;
  } catch (const json::exception& e) {
    throw NeedsPluginCode(fmt::format("declaration file {} is unreadable ({})", file.string(), e.what()));
  }
}

}  // namespace stagehand
