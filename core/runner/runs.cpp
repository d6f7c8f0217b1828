// SPDX-License-Identifier: Apache-2.0
// `runner runs`: one row per run (id, pipeline, start, status, duration, commit, the overrides that distinguish it,
// chosen metrics), read from each run folder's summary.json (written beside record.yaml); a run recorded before
// summaries existed is read from its record.yaml instead. `--compare A B ...` puts runs side by side, one row per
// metric.
#include "runs.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <tuple>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "stagehand/config.h"
#include "stagehand/error.h"
#include "stagehand/files.h"
#include "stagehand/schema.h"

#include "pipeline/run_summary.h"

namespace stagehand {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace runs {

json read_summary(const fs::path& dir) {
  const fs::path summary = dir / "summary.json";
  if (fs::is_regular_file(summary)) {
    try {
      return json::parse(read_file(summary));
    } catch (const json::exception& e) {
      fail("{}: not a run summary ({}); delete it and `runner runs` reads record.yaml instead", summary.string(),
           e.what());
    }
  }
  const fs::path record = dir / "record.yaml";
  if (!fs::is_regular_file(record)) return json();
  return json::parse(run_summary_json(load_yaml_file(record)));
}

std::string text(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_number_integer()) return std::to_string(j.get<int64_t>());
  if (j.is_number()) return fmt::format("{:.4g}", j.get<double>());
  if (j.is_boolean()) return j.get<bool>() ? "true" : "false";
  return "";
}

json metric_of(const json& s, const std::string& key) {
  const json stages = s.value("stages", json::object());
  const size_t dot = key.find('.');
  if (dot != std::string::npos) {
    auto st = stages.find(key.substr(0, dot));
    if (st != stages.end() && st->contains("metrics")) {
      const json& m = (*st)["metrics"];
      if (auto it = m.find(key.substr(dot + 1)); it != m.end()) return *it;
    }
  }
  for (const auto& [name, st] : stages.items())
    if (st.contains("metrics"))
      if (auto it = st["metrics"].find(key); it != st["metrics"].end()) return *it;
  return json();
}

void print(const Table& t, const std::string& format) {
  if (format == "csv") {
    for (const auto& row : t) {
      std::string line;
      for (size_t i = 0; i < row.size(); ++i) {
        std::string cell = row[i];
        if (cell.find_first_of(",\"\n") != std::string::npos) {
          std::string q = "\"";
          for (char c : cell) q += c == '"' ? std::string("\"\"") : std::string(1, c);
          cell = q + "\"";
        }
        line += (i ? "," : "") + cell;
      }
      std::cout << line << "\n";
    }
    return;
  }
  if (format == "json") {
    json rows = json::array();
    for (size_t r = 1; r < t.size(); ++r) {
      json row = json::object();
      for (size_t i = 0; i < t[0].size(); ++i) row[t[0][i]] = t[r][i];
      rows.push_back(row);
    }
    std::cout << rows.dump(1) << "\n";
    return;
  }
  std::vector<size_t> width(t[0].size(), 3);
  for (const auto& row : t)
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  auto line = [&](const std::vector<std::string>& row) {
    std::string s = "|";
    for (size_t i = 0; i < row.size(); ++i) s += fmt::format(" {:<{}} |", row[i], width[i]);
    std::cout << s << "\n";
  };
  line(t[0]);
  std::string rule = "|";
  for (size_t w : width) rule += std::string(w + 2, '-') + "|";
  std::cout << rule << "\n";
  for (size_t r = 1; r < t.size(); ++r) line(t[r]);
}


}  // namespace runs

namespace {

using runs::metric_of;
using runs::print;
using runs::read_summary;
using runs::Table;
using runs::text;

struct Run {
  fs::path dir;
  json s;  ///< the summary
};

std::vector<Run> collect(const RunsOptions& o) {
  SH_CHECK(fs::is_directory(o.runs_dir), "runs: no runs folder '{}'; name one with --runs-dir (the runner writes "
                                          "runs/ beside where it is started)", o.runs_dir);
  std::vector<std::string> wanted;
  for (const auto& p : o.pipelines) wanted.push_back(fs::path(p).extension() == ".yaml" ? fs::path(p).stem().string() : p);
  std::vector<Run> runs;
  for (const auto& pipeline_dir : fs::directory_iterator(o.runs_dir)) {
    const std::string name = pipeline_dir.path().filename().string();
    if (!pipeline_dir.is_directory() || name.empty() || name[0] == '.') continue;
    for (const auto& run_dir : fs::directory_iterator(pipeline_dir.path())) {
      if (!run_dir.is_directory() || run_dir.is_symlink()) continue;  // `latest` is a link
      json s = read_summary(run_dir.path());
      if (s.is_null()) continue;
      const std::string pipeline = s.value("pipeline", json()).is_string() ? s["pipeline"].get<std::string>() : name;
      if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), pipeline) == wanted.end()) continue;
      runs.push_back({run_dir.path(), std::move(s)});
    }
  }
  // In the order they started: by the second, then to the microsecond where the record says so, then by id.
  auto order = [](const Run& r) {
    const json& u = r.s.value("started_unix", json());
    return std::make_tuple(text(r.s.value("started", json())), u.is_number() ? u.get<double>() : 0.0,
                           text(r.s.value("run_id", json())));
  };
  std::sort(runs.begin(), runs.end(), [&](const Run& a, const Run& b) { return order(a) < order(b); });
  return runs;
}

std::string duration(const json& seconds) {
  if (!seconds.is_number()) return "";
  const double s = seconds.get<double>();
  const int t = static_cast<int>(std::lround(s));
  if (t >= 3600) return fmt::format("{}h{:02}m", t / 3600, (t % 3600) / 60);
  if (t >= 60) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{:.1f}s", s);
}

std::string overrides(const json& s) {
  std::string out;
  for (const auto& o : s.value("overrides", json::array())) out += (out.empty() ? "" : " ") + text(o);
  return out;
}

std::string commit(const json& s) {
  std::string c = text(s.value("commit", json())).substr(0, 7);
  if (s.value("dirty", json()).is_boolean() && s["dirty"].get<bool>()) c += "+dirty";
  return c;
}

/// Sorts by a column of the table (numbers as numbers), keeping the header first.
void sort_rows(Table& t, const std::string& column, bool descending) {
  auto it = std::find(t[0].begin(), t[0].end(), column);
  if (it == t[0].end()) {
    const std::string dym = closest_match(column, t[0]);
    fail("runs: --sort {}: no such column{}; the columns are {}", column,
         dym.empty() ? "" : fmt::format(" (did you mean '{}'?)", dym), fmt::join(t[0], ", "));
  }
  const size_t c = static_cast<size_t>(it - t[0].begin());
  auto key = [&](const std::vector<std::string>& row) {
    char* end = nullptr;
    const double v = std::strtod(row[c].c_str(), &end);
    return std::make_pair(end && *end == '\0' && !row[c].empty() ? v : HUGE_VAL, row[c]);
  };
  std::stable_sort(t.begin() + 1, t.end(), [&](const auto& a, const auto& b) {
    return descending ? key(b) < key(a) : key(a) < key(b);
  });
}

/// A run named on the command line: a run id (looked up under the runs folder), a run folder or its record.yaml.
Run find_run(const std::string& what, const std::vector<Run>& all) {
  fs::path p(what);
  if (p.filename() == "record.yaml" || p.filename() == "summary.json") p = p.parent_path();
  if (fs::is_directory(p)) {
    json s = read_summary(p);
    SH_CHECK(!s.is_null(), "runs --compare: '{}' holds no run (no record.yaml)", what);
    return {p, s};
  }
  std::vector<std::string> ids;
  for (const auto& r : all) {
    const std::string id = text(r.s.value("run_id", json()));
    if (id == what) return r;
    ids.push_back(id);
  }
  const std::string dym = closest_match(what, ids);
  fail("runs --compare: no run '{}' under the runs folder{}; give a run id from `runner runs`, a run folder or its "
       "record.yaml", what, dym.empty() ? "" : fmt::format(" (did you mean '{}'?)", dym));
}

int compare(const RunsOptions& o, const std::vector<Run>& all) {
  SH_CHECK(o.compare.size() >= 2, "runs --compare: name at least two runs, e.g. runner runs --compare ID1 ID2");
  std::vector<Run> runs;
  for (const auto& w : o.compare) runs.push_back(find_run(w, all));
  Table t{{"field"}};
  for (const auto& r : runs) t[0].push_back(text(r.s.value("run_id", json())));
  auto row = [&](const std::string& name, const std::function<std::string(const json&)>& cell) {
    std::vector<std::string> line{name};
    for (const auto& r : runs) line.push_back(cell(r.s));
    t.push_back(line);
  };
  row("pipeline", [](const json& s) { return text(s.value("pipeline", json())); });
  row("started", [](const json& s) { return text(s.value("started", json())); });
  row("status", [](const json& s) { return text(s.value("status", json())); });
  row("duration", [](const json& s) { return duration(s.value("seconds", json())); });
  row("commit", commit);
  row("overrides", overrides);
  // Every stage metric any of the runs has (or only the chosen ones), in stage order.
  std::vector<std::string> keys = o.metrics;
  if (keys.empty())
    for (const auto& r : runs) {
      const json stages = r.s.value("stages", json::object());
      for (const auto& [stage, st] : stages.items()) {
        const json metrics = st.value("metrics", json::object());
        for (const auto& [m, v] : metrics.items())
          if (std::find(keys.begin(), keys.end(), stage + "." + m) == keys.end()) keys.push_back(stage + "." + m);
      }
    }
  for (const auto& k : keys) row(k, [&](const json& s) { return text(metric_of(s, k)); });
  print(t, o.format);
  return 0;
}

}  // namespace

int cmd_runs(const RunsOptions& o) {
  SH_CHECK(o.format == "md" || o.format == "csv" || o.format == "json",
           "runs: --format {}: expected md, csv or json", o.format);
  std::vector<Run> runs = collect(o);
  if (!o.compare.empty()) return compare(o, runs);
  Table t{{"id", "pipeline", "started", "status", "seconds", "duration", "commit", "overrides"}};
  for (const auto& m : o.metrics) t[0].push_back(m);
  for (const auto& r : runs) {
    const json& s = r.s;
    std::vector<std::string> row{text(s.value("run_id", json())), text(s.value("pipeline", json())),
                                 text(s.value("started", json())), text(s.value("status", json())),
                                 s.value("seconds", json()).is_number() ? fmt::format("{:.1f}", s["seconds"].get<double>()) : "",
                                 duration(s.value("seconds", json())), commit(s), overrides(s)};
    for (const auto& m : o.metrics) row.push_back(text(metric_of(s, m)));
    t.push_back(row);
  }
  sort_rows(t, o.sort, o.descending);
  if (o.limit > 0 && t.size() > static_cast<size_t>(o.limit) + 1)
    t.erase(t.begin() + 1, t.end() - o.limit);
  if (t.size() == 1) {
    std::cerr << fmt::format("no runs under '{}'{}\n", o.runs_dir,
                             o.pipelines.empty() ? "" : fmt::format(" for {}", fmt::join(o.pipelines, ", ")));
    return 0;
  }
  print(t, o.format);
  return 0;
}

}  // namespace stagehand
