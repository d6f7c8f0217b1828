// SPDX-License-Identifier: Apache-2.0
// `runner report` and the report.html every run writes (report.h). Everything comes from the run folder: the record
// (status, seconds, metrics, resolved options, provenance, upstream stages), metrics.jsonl (the curves), each
// stage's results.csv (the results tables) and the SVG files stages wrote. One self-contained HTML file: inline CSS
// and SVG, and a short script that makes tables sortable and marks the page as rendered (the browser test reads
// that mark).
#include "report.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <stagehand/config.h>
#include <stagehand/error.h>
#include <stagehand/files.h>
#include <stagehand/schema.h>
#include <stagehand/sdk/plot_svg.h>
#include <stagehand/sdk/records.h>

namespace stagehand {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string esc(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

/// An id for HTML anchors: letters, digits, '-' and '_' kept, anything else '-'.
std::string anchor(const std::string& s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '-';
  return out;
}

std::string number(double v) {
  if (std::isfinite(v) && v == std::round(v) && std::fabs(v) < 1e15) return fmt::format("{:.0f}", v);
  return fmt::format("{:.4g}", v);
}

std::string scalar_text(const ConfigNode& n) {
  if (n.is_null()) return "~";
  if (n.is_scalar()) return n.as_string();
  std::vector<std::string> parts;
  if (n.is_sequence())
    for (const auto& i : n.items()) parts.push_back(scalar_text(i));
  return n.is_sequence() ? fmt::format("[{}]", fmt::join(parts, ", ")) : "{…}";
}

std::string field(const ConfigNode& record, const std::string& dotted) {
  const ConfigNode* n = record.find_path(dotted);
  return n && !n->is_null() ? scalar_text(*n) : "";
}

/// A headline metric: at most one dot (test.macro_f1, not test.f1.spam or test.confusion.a.b), not a count.
bool headline(const std::string& key) {
  return std::count(key.begin(), key.end(), '.') <= 1 && key.find("examples") == std::string::npos;
}

struct StageInfo {
  std::string name, kind, status, error;
  std::string curves_from;  ///< the run whose metrics.jsonl holds this cached stage's curves
  double seconds = 0;
  std::vector<std::string> upstream;
  std::map<std::string, double> metrics, timings;
};

struct RunData {
  fs::path dir;
  ConfigNode record;
  std::string id, pipeline;
  std::vector<StageInfo> stages;  ///< record order (a topological order)
  /// stage -> value name -> trial (0: no trials) -> (step, value)
  std::map<std::string, std::map<std::string, std::map<int, std::vector<std::pair<double, double>>>>> curves;
};

std::map<std::string, double> number_map(const ConfigNode* n) {
  std::map<std::string, double> out;
  if (n && n->is_map())
    for (const auto& [k, v] : n->entries())
      if (v.is_scalar() && (v.is_double() || v.is_int())) out[k] = v.as_double();
  return out;
}

/// The upstream stages of `name`: the record's list, or (records before it had one) the stage's own stage.yaml.
std::vector<std::string> upstream_of(const fs::path& run_dir, const std::string& name, const ConfigNode& srec) {
  std::vector<std::string> out;
  if (const ConfigNode* u = srec.find("upstream"); u && u->is_sequence()) {
    for (const auto& i : u->items()) out.push_back(i.as_string());
    return out;
  }
  const fs::path info = run_dir / "stages" / name / "stage.yaml";
  if (!fs::is_regular_file(info)) return out;
  try {
    const ConfigNode s = load_yaml_file(info);
    const json km = json::parse(s.at("key_material").as_string());
    const json up = km.value("upstream", json::object());
    for (const auto& [k, v] : up.items()) out.push_back(k);
  } catch (const std::exception&) {
    // An unreadable stage.yaml only costs the graph its edges.
  }
  return out;
}

/// The step values of metrics.jsonl (`only`: of that stage alone) into run.curves.
void read_curves(RunData& run, const fs::path& file, const std::string& only = "") {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("step") || !j.contains("values") || !j["stage"].is_string()) continue;
    if (!only.empty() && j["stage"] != only) continue;
    const int trial = j.value("trial", 0);
    const double step = j["step"].get<double>();
    auto& stage = run.curves[j["stage"].get<std::string>()];
    for (const auto& [k, v] : j["values"].items())
      if (v.is_number() && headline(k)) stage[k][trial].emplace_back(step, v.get<double>());
  }
}

/// A stage reused from the cache logged its curves in the run that computed it (its stage.yaml names that run):
/// read them from there when that run is under the same runs folder. Returns the run's id, or "".
std::string curves_of_cached(RunData& run, const std::string& stage) {
  const fs::path info = run.dir / "stages" / stage / "stage.yaml";
  if (!fs::is_regular_file(info)) return "";
  try {
    const std::string id = load_yaml_file(info).at("run_id").as_string();
    const fs::path runs_dir = run.dir.parent_path().parent_path();
    for (const auto& pipeline : fs::directory_iterator(runs_dir)) {
      const fs::path jsonl = pipeline.path() / id / "metrics.jsonl";
      if (id != run.id && fs::is_regular_file(jsonl)) {
        read_curves(run, jsonl, stage);
        return id;
      }
    }
  } catch (const std::exception&) {
    // No curves for this stage, then.
  }
  return "";
}

RunData read_run(const fs::path& dir) {
  RunData run;
  run.dir = dir;
  const fs::path record = dir / "record.yaml";
  SH_CHECK(fs::is_regular_file(record), "report: '{}' holds no run (no record.yaml); give a run folder "
                                        "(runs/<pipeline>/<id>), its record.yaml or a run id", dir.string());
  run.record = load_yaml_file(record);
  run.id = field(run.record, "run_id");
  run.pipeline = field(run.record, "pipeline.name");
  if (const ConfigNode* st = run.record.find("stages"); st && st->is_map())
    for (const auto& [name, s] : st->entries()) {
      StageInfo info;
      info.name = name;
      info.kind = field(s, "kind");
      info.status = field(s, "status");
      info.error = field(s, "error");
      if (const ConfigNode* sec = s.find("seconds"); sec && sec->is_scalar()) info.seconds = sec->as_double();
      info.upstream = upstream_of(dir, name, s);
      info.metrics = number_map(s.find("metrics"));
      info.timings = number_map(s.find("timings"));
      run.stages.push_back(std::move(info));
    }
  read_curves(run, dir / "metrics.jsonl");
  for (auto& s : run.stages)
    if (s.status == "cached" && !run.curves.count(s.name)) s.curves_from = curves_of_cached(run, s.name);
  return run;
}

// ---------------------------------------------------------------- sections

std::string table(const std::vector<std::vector<std::string>>& rows, const std::string& cls = "sortable") {
  std::string h = fmt::format("<table class=\"{}\"><thead><tr>", cls);
  for (const auto& c : rows.front()) h += "<th>" + esc(c) + "</th>";
  h += "</tr></thead><tbody>\n";
  for (size_t r = 1; r < rows.size(); ++r) {
    h += "<tr>";
    for (const auto& c : rows[r]) h += "<td>" + esc(c) + "</td>";
    h += "</tr>\n";
  }
  return h + "</tbody></table>\n";
}

std::string overview(const RunData& run) {
  const ConfigNode& r = run.record;
  std::vector<std::vector<std::string>> rows{{"field", "value"}};
  auto add = [&](const std::string& name, const std::string& value) {
    if (!value.empty()) rows.push_back({name, value});
  };
  add("pipeline", field(r, "pipeline.name"));
  add("description", field(r, "pipeline.description"));
  add("pipeline file", field(r, "pipeline.file"));
  add("run id", run.id);
  add("status", field(r, "status"));
  add("started", field(r, "started"));
  add("ended", field(r, "ended"));
  if (const ConfigNode* s = r.find("seconds"); s && s->is_scalar()) add("seconds", fmt::format("{:.1f}", s->as_double()));
  std::vector<std::string> cmd;
  if (const ConfigNode* c = r.find("command"); c && c->is_sequence())
    for (const auto& i : c->items()) cmd.push_back(i.as_string());
  add("command", fmt::format("{}", fmt::join(cmd, " ")));
  add("overrides", field(r, "overrides") == "[]" ? "none" : field(r, "overrides"));
  add("commit", field(r, "environment.runner.git_commit") +
                    (field(r, "environment.runner.git_dirty") == "true" ? " (uncommitted changes)" : ""));
  add("runner", field(r, "environment.runner.version"));
  add("LibTorch", field(r, "environment.libtorch.version"));
  add("host", fmt::format("{} ({} cores)", field(r, "environment.host.cpu"), field(r, "environment.host.cores")));
  add("pipeline seed", field(r, "seeds.pipeline"));
  return "<h3>Run</h3>\n" + table(rows, "plain");
}

const char* status_colour(const std::string& status) {
  if (status == "ran") return "#cdebd0";
  if (status == "cached") return "#d6e4f5";
  if (status == "failed") return "#f6c4c4";
  if (status == "interrupted") return "#fbe0b0";
  return "#eeeeee";
}

/// The stage graph: stages in columns by depth (longest path from a stage without upstream), arrows from each
/// upstream stage, boxes coloured by status.
std::string graph(const RunData& run) {
  std::map<std::string, int> depth, row;
  std::map<int, int> rows_in;
  for (const auto& s : run.stages) {
    int d = 0;
    for (const auto& u : s.upstream)
      if (depth.count(u)) d = std::max(d, depth[u] + 1);
    depth[s.name] = d;
    row[s.name] = rows_in[d]++;
  }
  const double w = 215, h = 48, gx = 60, gy = 18, pad = 12;
  int most_rows = 0, most_depth = 0;
  for (const auto& [d, n] : rows_in) most_rows = std::max(most_rows, n), most_depth = std::max(most_depth, d);
  auto x_of = [&](const std::string& s) { return pad + depth[s] * (w + gx); };
  auto y_of = [&](const std::string& s) { return pad + row[s] * (h + gy); };
  std::string svg = fmt::format(
      "<svg class=\"graph\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{0:.0f}\" height=\"{1:.0f}\" "
      "viewBox=\"0 0 {0:.0f} {1:.0f}\" font-family=\"sans-serif\" font-size=\"12\">\n"
      "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" "
      "orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#555\"/></marker></defs>\n",
      2 * pad + (most_depth + 1) * w + most_depth * gx, 2 * pad + most_rows * h + (most_rows - 1) * gy);
  for (const auto& s : run.stages)
    for (const auto& u : s.upstream)
      if (depth.count(u))
        svg += fmt::format("<line x1=\"{:.0f}\" y1=\"{:.0f}\" x2=\"{:.0f}\" y2=\"{:.0f}\" stroke=\"#555\" "
                           "marker-end=\"url(#arrow)\"/>\n",
                           x_of(u) + w, y_of(u) + h / 2, x_of(s.name), y_of(s.name) + h / 2);
  for (const auto& s : run.stages) {
    const std::string tip = s.error.empty() ? "" : fmt::format("<title>{}</title>", esc(s.error));
    svg += fmt::format(
        "<g class=\"stage\" data-stage=\"{0}\" data-status=\"{1}\">{7}<rect x=\"{2:.0f}\" y=\"{3:.0f}\" width=\"{4:.0f}\" "
        "height=\"{5:.0f}\" rx=\"6\" fill=\"{6}\" stroke=\"#444\"/>\n",
        esc(s.name), esc(s.status), x_of(s.name), y_of(s.name), w, h, status_colour(s.status), tip);
    svg += fmt::format("<text x=\"{:.0f}\" y=\"{:.0f}\" font-weight=\"bold\">{}</text>\n", x_of(s.name) + 8,
                       y_of(s.name) + 19, esc(s.name));
    svg += fmt::format("<text x=\"{:.0f}\" y=\"{:.0f}\" fill=\"#333\">{} · {}{}</text></g>\n", x_of(s.name) + 8,
                       y_of(s.name) + 37, esc(s.kind), esc(s.status),
                       s.status == "ran" ? fmt::format(" · {:.1f} s", s.seconds) : "");
  }
  return "<h3>Stages</h3>\n" + svg + "</svg>\n<p class=\"legend\">ran: green · reused from the cache: blue · failed: "
         "red · interrupted: orange · skipped: grey</p>\n";
}

/// A stage's results.csv (metric, column, n, mean, std, ...) as a table: one row per metric, one column per
/// results column, "mean (std)" where a value is over several trials.
std::string results_csv(const fs::path& file) {
  sdk::DelimitedReader reader(read_file(file), ',');
  std::vector<std::string> f, columns, metrics;
  std::map<std::pair<std::string, std::string>, std::string> cell;
  int line = 0;
  bool header = true;
  while (reader.next(f, line)) {
    if (header || f.size() < 5) {
      header = false;
      continue;
    }
    if (std::find(columns.begin(), columns.end(), f[1]) == columns.end()) columns.push_back(f[1]);
    if (std::find(metrics.begin(), metrics.end(), f[0]) == metrics.end()) metrics.push_back(f[0]);
    const double mean = std::stod(f[3]), sd = std::stod(f[4]);
    const bool scaled = mean >= 0 && mean <= 1 && f[0].find("examples") == std::string::npos && f[0] != "loss";
    cell[{f[0], f[1]}] = std::stoi(f[2]) > 1 ? fmt::format("{} ({})", number(scaled ? 100 * mean : mean),
                                                           number(scaled ? 100 * sd : sd))
                                             : number(scaled ? 100 * mean : mean);
  }
  std::vector<std::vector<std::string>> rows{{"metric"}};
  for (const auto& c : columns) rows[0].push_back(c);
  for (const auto& m : metrics) {
    rows.push_back({m});
    for (const auto& c : columns) rows.back().push_back(cell.count({m, c}) ? cell[{m, c}] : "");
  }
  return table(rows) + "<p class=\"note\">Values in [0, 1] shown as percentages; mean (std) over trials.</p>\n";
}

/// Per-class precision / recall / F1 / support and the confusion matrix (rows: true label, columns: predicted;
/// counts) of one split, from metrics named <split>.f1.<class> and <split>.confusion.<true>.<predicted>.
std::string per_class(const StageInfo& s, const std::string& split) {
  std::vector<std::string> classes;
  for (const auto& [k, v] : s.metrics)
    if (k.rfind(split + ".support.", 0) == 0) classes.push_back(k.substr(split.size() + 9));
  if (classes.empty()) return "";
  std::vector<std::vector<std::string>> rows{{"class", "precision", "recall", "F1", "support"}};
  auto get = [&](const std::string& what, const std::string& c) {
    auto it = s.metrics.find(split + "." + what + "." + c);
    return it == s.metrics.end() ? std::string() : what == "support" ? number(it->second)
                                                                     : fmt::format("{:.2f}", 100 * it->second);
  };
  for (const auto& c : classes) rows.push_back({c, get("precision", c), get("recall", c), get("f1", c), get("support", c)});
  std::string h = fmt::format("<h4>{} · {} per class (percent)</h4>\n", esc(s.name), esc(split)) + table(rows);
  std::vector<std::vector<std::string>> cm{{"true \\ predicted"}};
  for (const auto& c : classes) cm[0].push_back(c);
  bool any = false;
  for (const auto& t : classes) {
    cm.push_back({t});
    for (const auto& p : classes) {
      auto it = s.metrics.find(split + ".confusion." + t + "." + p);
      any = any || it != s.metrics.end();
      cm.back().push_back(it == s.metrics.end() ? "" : number(it->second));
    }
  }
  if (any) h += fmt::format("<h4>{} · {} confusion matrix (counts)</h4>\n", esc(s.name), esc(split)) + table(cm, "plain");
  return h;
}

/// The headline metrics of a stage, one row per metric and one column per split: "test.macro_f1" goes to row
/// macro_f1, column test; a metric without a split prefix to the column "value".
std::string headline_table(const StageInfo& s) {
  std::vector<std::string> columns, names;
  std::map<std::pair<std::string, std::string>, double> cell;
  for (const auto& [k, v] : s.metrics) {
    if (!headline(k) || k.find(".std") != std::string::npos) continue;
    const size_t dot = k.find('.');
    const std::string col = dot == std::string::npos ? "value" : k.substr(0, dot);
    const std::string name = dot == std::string::npos ? k : k.substr(dot + 1);
    if (std::find(columns.begin(), columns.end(), col) == columns.end()) columns.push_back(col);
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    cell[{name, col}] = v;
  }
  if (names.empty()) return "";
  std::vector<std::vector<std::string>> rows{{"metric"}};
  for (const auto& c : columns) rows[0].push_back(c);
  for (const auto& n : names) {
    rows.push_back({n});
    for (const auto& c : columns) rows.back().push_back(cell.count({n, c}) ? number(cell[{n, c}]) : "");
  }
  return table(rows);
}

std::string results(const RunData& run) {
  std::string h = "<h3>Results</h3>\n";
  for (const auto& s : run.stages) {
    const fs::path csv = run.dir / "stages" / s.name / "results.csv";
    std::string body;
    if (fs::is_regular_file(csv)) try {
        body += results_csv(csv);
      } catch (const std::exception& e) {
        body += fmt::format("<p class=\"note\">{}: unreadable ({})</p>\n", esc(csv.string()), esc(e.what()));
      }
    if (body.empty()) body += headline_table(s);
    for (const std::string split : {"validation", "test"}) body += per_class(s, split);
    if (!body.empty()) h += fmt::format("<h4 id=\"results-{}\">{} ({})</h4>\n", anchor(run.id + "-" + s.name),
                                        esc(s.name), esc(s.kind)) + body;
  }
  return h;
}

/// The variants of a metric that a reader looks at second (precision, recall, micro and weighted averages).
bool secondary(const std::string& key) {
  for (const char* part : {"precision", "recall", "micro_", "weighted_"})
    if (key.find(part) != std::string::npos) return true;
  return false;
}

/// One small plot per logged value of each stage (training loss, learning rate, evaluation metrics), one line
/// per trial.
std::string curves(const RunData& run) {
  std::string h = "<h3>Curves</h3>\n";
  for (const auto& s : run.stages) {
    auto it = run.curves.find(s.name);
    if (it == run.curves.end()) continue;
    std::string main, more;
    int n_more = 0;
    for (const auto& [key, trials] : it->second) {
      plot::Panel p;
      p.title = key;
      p.x_label = "step";
      p.y_label = key;
      p.integer_x = false;
      for (const auto& [trial, points] : trials)
        p.series.push_back({trial == 0 ? s.name : fmt::format("trial {}", trial), points});
      std::string svg = plot::line_plot_svg("", {p}, false);
      if (svg.rfind("<?xml", 0) == 0) svg.erase(0, svg.find('\n') + 1);
      (secondary(key) ? more : main) += "<div class=\"plot\">" + svg + "</div>\n";
      n_more += secondary(key);
    }
    const std::string from = s.curves_from.empty() ? "" : fmt::format(" (reused from the cache: logged by run {})",
                                                                        esc(s.curves_from));
    h += fmt::format("<h4>{}{}</h4>\n<div class=\"curves\" data-stage=\"{}\">\n{}</div>\n", esc(s.name), from,
                     esc(s.name), main);
    if (n_more > 0)
      h += fmt::format("<details><summary>{} more curves of {}</summary><div class=\"curves\">\n{}</div></details>\n",
                       n_more, esc(s.name), more);
  }
  return h;
}

/// The SVG figures stages wrote into their folders (the probe stage's layers.svg), inline.
std::string figures(const RunData& run) {
  std::string h;
  for (const auto& s : run.stages) {
    const fs::path dir = run.dir / "stages" / s.name;
    if (!fs::is_directory(dir)) continue;
    std::vector<fs::path> svgs;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".svg") svgs.push_back(e.path());
    std::sort(svgs.begin(), svgs.end());
    for (const auto& f : svgs) {
      std::string svg = read_file(f);
      if (svg.rfind("<?xml", 0) == 0) svg.erase(0, svg.find('\n') + 1);
      h += fmt::format("<h4>{} · {}</h4>\n<div class=\"figure\">{}</div>\n", esc(s.name), esc(f.filename().string()), svg);
    }
  }
  return h.empty() ? h : "<h3>Figures</h3>\n" + h;
}

std::string timings(const RunData& run) {
  double total = 0;
  for (const auto& s : run.stages) total = std::max(total, s.seconds);
  std::string h = "<h3>Timings</h3>\n<table class=\"sortable\"><thead><tr><th>stage</th><th>kind</th><th>status</th>"
                  "<th>seconds</th><th></th><th>timings</th></tr></thead><tbody>\n";
  for (const auto& s : run.stages) {
    std::vector<std::string> t;
    for (const auto& [k, v] : s.timings) t.push_back(fmt::format("{}={}", k, number(v)));
    h += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.1f}</td><td><div class=\"bar\" style=\"width:{:.0f}px\">"
                     "</div></td><td>{}</td></tr>\n",
                     esc(s.name), esc(s.kind), esc(s.status) + (s.error.empty() ? "" : ": " + esc(s.error)), s.seconds,
                     total > 0 ? 200 * s.seconds / total : 0, esc(fmt::format("{}", fmt::join(t, "  "))));
  }
  return h + "</tbody></table>\n";
}

/// The resolved options as dotted keys with their values (lists of scalars kept whole).
void flatten(const ConfigNode& n, const std::string& prefix, std::vector<std::pair<std::string, std::string>>& out) {
  const bool scalar_list = n.is_sequence() && std::all_of(n.items().begin(), n.items().end(),
                                                          [](const ConfigNode& i) { return !i.is_map() && !i.is_sequence(); });
  if (n.is_map() && n.size() > 0) {
    for (const auto& [k, v] : n.entries()) flatten(v, prefix.empty() ? k : prefix + "." + k, out);
  } else if (n.is_sequence() && !scalar_list) {
    for (size_t i = 0; i < n.size(); ++i) flatten(n.items()[i], fmt::format("{}.{}", prefix, i), out);
  } else {
    out.emplace_back(prefix, scalar_text(n));
  }
}

std::string configuration(const RunData& run) {
  std::vector<std::pair<std::string, std::string>> flat;
  if (const ConfigNode* r = run.record.find("resolved")) flatten(*r, "", flat);
  const ConfigNode* prov = run.record.find("provenance");
  auto where = [&](const std::string& key) -> std::string {
    if (!prov) return "";
    for (const std::string& k : {key, key + ".0"})
      if (const ConfigNode* p = prov->find(k)) return p->as_string();
    return "";
  };
  std::string h = fmt::format("<h3>Configuration</h3>\n<details><summary>{} resolved options, with where each value "
                              "came from (a file:line:col, an override, or the default)</summary>\n"
                              "<table class=\"sortable\"><thead><tr><th>option</th><th>value</th><th>from</th></tr>"
                              "</thead><tbody>\n",
                              flat.size());
  for (const auto& [k, v] : flat) {
    const std::string from = where(k);
    h += fmt::format("<tr{}><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                     from.empty() || from == "<default>" ? "" : " class=\"set\"", esc(k), esc(v), esc(from));
  }
  return h + "</tbody></table></details>\n";
}

std::string run_sections(const RunData& run) {
  return fmt::format("<section class=\"run\" id=\"run-{}\">\n<h2>{} · {}</h2>\n", anchor(run.id), esc(run.pipeline),
                     esc(run.id)) +
         overview(run) + graph(run) + results(run) + curves(run) + figures(run) + timings(run) + configuration(run) +
         "</section>\n";
}

/// Several runs side by side: their headline metrics, then the options whose values differ.
std::string comparison(const std::vector<RunData>& runs) {
  std::vector<std::vector<std::string>> rows{{"stage.metric"}};
  std::set<std::string> keys;
  for (const auto& r : runs) {
    rows[0].push_back(r.id);
    for (const auto& s : r.stages)
      for (const auto& [k, v] : s.metrics)
        if (headline(k)) keys.insert(s.name + "." + k);
  }
  auto value = [](const RunData& r, const std::string& key) -> std::string {
    for (const auto& s : r.stages)
      if (key.rfind(s.name + ".", 0) == 0) {
        auto it = s.metrics.find(key.substr(s.name.size() + 1));
        if (it != s.metrics.end()) return number(it->second);
      }
    return "";
  };
  for (const auto& k : keys) {
    rows.push_back({k});
    for (const auto& r : runs) rows.back().push_back(value(r, k));
  }
  std::vector<std::map<std::string, std::string>> flat(runs.size());
  std::set<std::string> all;
  for (size_t i = 0; i < runs.size(); ++i) {
    std::vector<std::pair<std::string, std::string>> f;
    if (const ConfigNode* r = runs[i].record.find("resolved")) flatten(*r, "", f);
    for (auto& [k, v] : f) flat[i][k] = v, all.insert(k);
  }
  std::vector<std::vector<std::string>> diff{rows[0]};
  diff[0][0] = "option";
  for (const auto& k : all) {
    std::vector<std::string> row{k};
    for (const auto& f : flat) row.push_back(f.count(k) ? f.at(k) : "(absent)");
    if (std::any_of(row.begin() + 2, row.end(), [&](const std::string& v) { return v != row[1]; })) diff.push_back(row);
  }
  return "<section id=\"comparison\"><h2>Side by side</h2>\n" + table(rows) + "<h3>Options that differ</h3>\n" +
         (diff.size() > 1 ? table(diff) : std::string("<p>none: the runs resolved to the same options</p>\n")) +
         "</section>\n";
}

const char* kStyle = R"(body{font-family:sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px}h2{font-size:19px;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:36px}h3{font-size:16px;margin-top:26px}
h4{font-size:14px;margin:16px 0 6px}table{border-collapse:collapse;margin:6px 0;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#f2f2f2}table.sortable th{cursor:pointer}
tr.set td{font-weight:bold}svg.graph{max-width:100%;height:auto}.curves{display:flex;flex-wrap:wrap;gap:8px}.plot svg{width:380px;height:auto}
.bar{height:10px;background:#0072B2}.note,.legend{font-size:12px;color:#555}nav a{margin-right:12px}
)";

/// Sorts a table by the clicked column (numbers as numbers), and marks the page rendered for the browser test.
const char* kScript = R"(
(function () {
  function key(cell) {
    var t = cell.textContent.trim(), n = parseFloat(t);
    return isNaN(n) ? t.toLowerCase() : n;
  }
  document.querySelectorAll('table.sortable').forEach(function (table) {
    table.querySelectorAll('th').forEach(function (th, col) {
      th.addEventListener('click', function () {
        var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
        var up = th.dataset.order !== 'asc';
        rows.sort(function (a, b) {
          var x = key(a.cells[col]), y = key(b.cells[col]);
          return (x < y ? -1 : x > y ? 1 : 0) * (up ? 1 : -1);
        });
        th.dataset.order = up ? 'asc' : 'desc';
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  document.documentElement.dataset.rendered = String(document.querySelectorAll('svg').length);
})();
)";

std::string page(const std::vector<RunData>& runs) {
  const std::string title = runs.size() == 1 ? fmt::format("{} · {}", runs[0].pipeline, runs[0].id)
                                             : fmt::format("{} runs", runs.size());
  std::string h = fmt::format("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>stagehand · "
                              "{}</title>\n<style>{}</style></head><body>\n<h1>stagehand report · {}</h1>\n",
                              esc(title), kStyle, esc(title));
  if (runs.size() > 1) {
    h += "<nav>";
    for (const auto& r : runs) h += fmt::format("<a href=\"#run-{}\">{}</a>", anchor(r.id), esc(r.id));
    h += "</nav>\n" + comparison(runs);
  }
  for (const auto& r : runs) h += run_sections(r);
  return h + "<script>" + kScript + "</script>\n</body></html>\n";
}

/// A run named on the command line: a run folder, its record.yaml, or a run id under the runs folder.
fs::path locate(const std::string& what, const std::string& runs_dir) {
  fs::path p(what);
  if (p.filename() == "record.yaml") p = p.parent_path();
  if (fs::is_directory(p)) return p;
  std::vector<std::string> ids;
  if (fs::is_directory(runs_dir))
    for (const auto& pipeline : fs::directory_iterator(runs_dir)) {
      if (!pipeline.is_directory()) continue;
      if (fs::is_directory(pipeline.path() / what)) return pipeline.path() / what;
      for (const auto& r : fs::directory_iterator(pipeline.path()))
        if (r.is_directory() && !r.is_symlink()) ids.push_back(r.path().filename().string());
    }
  const std::string dym = closest_match(what, ids);
  fail("report: no run '{}' (not a run folder, a record.yaml, or a run id under '{}'{}); give one from `runner runs`",
       what, runs_dir, dym.empty() ? "" : fmt::format("; did you mean '{}'?", dym));
}

}  // namespace

fs::path write_run_report(const fs::path& run_dir) {
  const std::vector<RunData> runs{read_run(run_dir)};
  const fs::path out = run_dir / "report.html";
  write_file_atomic(out, page(runs));
  return out;
}

int cmd_report(const ReportOptions& o) {
  SH_CHECK(!o.runs.empty(), "report: name a run (a run folder, its record.yaml or a run id from `runner runs`)");
  std::vector<RunData> runs;
  for (const auto& w : o.runs) runs.push_back(read_run(locate(w, o.runs_dir)));
  fs::path out = o.output;
  if (out.empty()) out = runs.size() == 1 ? runs[0].dir / "report.html" : fs::path("report.html");
  write_file_atomic(out, page(runs));
  std::cout << out.string() << "\n";
  return 0;
}

}  // namespace stagehand
