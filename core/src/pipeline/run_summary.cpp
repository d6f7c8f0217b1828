// SPDX-License-Identifier: Apache-2.0
#include "pipeline/run_summary.h"

#include <nlohmann/json.hpp>

namespace stagehand {

namespace {

using json = nlohmann::json;

json text_at(const ConfigNode& record, const std::string& path) {
  const ConfigNode* n = record.find_path(path);
  return n && n->is_scalar() ? json(n->text()) : json();
}

json number(const ConfigNode* n) {
  if (!n || !n->is_scalar()) return json();
  if (n->is_int()) return json(n->as_int());
  if (n->is_double()) return json(n->as_double());
  return json();
}

}  // namespace

std::string run_summary_json(const ConfigNode& record) {
  json j = json::object();
  j["stagehand_summary"] = 1;
  for (const char* key : {"run_id", "status", "mode", "started", "ended"}) j[key] = text_at(record, key);
  j["seconds"] = number(record.find("seconds"));
  j["started_unix"] = number(record.find("started_unix"));
  j["pipeline"] = text_at(record, "pipeline.name");
  j["file"] = text_at(record, "pipeline.file");
  j["commit"] = text_at(record, "environment.runner.git_commit");
  const ConfigNode* dirty = record.find_path("environment.runner.git_dirty");
  j["dirty"] = dirty && dirty->is_bool() ? json(dirty->as_bool()) : json();
  json overrides = json::array();
  if (const ConfigNode* o = record.find("overrides"); o && o->is_sequence())
    for (const auto& item : o->items())
      if (item.is_scalar()) overrides.push_back(item.text());
  j["overrides"] = overrides;
  json stages = json::object();
  if (const ConfigNode* s = record.find("stages"); s && s->is_map()) {
    for (const auto& [name, stage] : s->entries()) {
      json st = json::object();
      st["status"] = text_at(stage, "status");
      st["seconds"] = number(stage.find("seconds"));
      json metrics = json::object();
      if (const ConfigNode* m = stage.find("metrics"); m && m->is_map())
        for (const auto& [k, v] : m->entries()) metrics[k] = number(&v);
      st["metrics"] = metrics;
      stages[name] = st;
    }
  }
  j["stages"] = stages;
  return j.dump(1) + "\n";
}

}  // namespace stagehand
