// SPDX-License-Identifier: Apache-2.0
#include "text_facts.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>

#include <stagehand/error.h>
#include <stagehand/facts_companion.h>
#include <stagehand/numbers.h>

namespace stagehand::text_classification {

namespace fs = std::filesystem;
using text_records::Format;
using text_records::Header;
using text_records::Record;
using text_records::Settings;

namespace {
std::string ascii_lower(std::string l) {
  std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return std::tolower(c); });
  return l;
}
}  // namespace

Settings settings_from(const Options& o) {
  Settings s;
  const std::string format = o.get<std::string>("format");
  s.auto_format = format == "auto";
  s.blurb = format == "blurb";
  s.format = format == "csv" ? Format::Csv : (format == "tsv" || s.blurb) ? Format::Tsv : Format::Jsonl;
  s.text_field = o.get<std::string>("text_field");
  s.has_pair = o.has("text_pair_field");
  if (s.has_pair) s.pair_field = o.get<std::string>("text_pair_field");
  s.label_field = o.get<std::string>("label_field");
  s.has_id = o.has("id_field");
  if (s.has_id) s.id_field = o.get<std::string>("id_field");
  // Unset: a header in every CSV/TSV file (the behaviour before `auto` existed), decided per file for blurb.
  const std::string header = o.has("has_header") ? o.get<std::string>("has_header") : s.blurb ? "auto" : "true";
  s.header = header == "auto" ? Header::Auto : header == "false" ? Header::No : Header::Yes;
  if (s.blurb) {
    // The layout fixes the columns; a field option would be silently ignored, so it is refused instead.
    SH_CHECK(!s.has_pair && !s.has_id && s.text_field == "text" && s.label_field == "label",
             "format blurb reads its columns by position (sentence, label, or id, sentence, label), but {} is set; "
             "remove it, or use format: tsv with explicit fields",
             s.has_pair ? "text_pair_field" : s.has_id ? "id_field" : s.text_field != "text" ? "text_field"
                                                                                          : "label_field");
  }
  s.lowercase_labels = o.get<bool>("lowercase_labels");
  s.skip_bad = o.get<std::string>("on_bad_record") == "skip";
  return s;
}

std::vector<std::string> fixed_labels_of(const Options& o, const Settings& s) {
  std::vector<std::string> labels = o.get<std::vector<std::string>>("labels");
  for (auto& l : labels)
    if (s.lowercase_labels) l = ascii_lower(l);
  std::set<std::string> seen;
  for (const auto& l : labels)
    if (!seen.insert(l).second) fail_at(o.node("labels").location(), "label '{}' appears twice in 'labels'; list each once", l);
  if (labels.empty()) fail_at(o.node("labels").location(), "'labels' is empty; list the class names or leave it unset");
  return labels;
}

std::vector<std::string> labels_of_records(const std::vector<Record>& records) {
  std::set<std::string> seen;
  for (const auto& r : records) seen.insert(r.label);
  std::vector<std::string> labels(seen.begin(), seen.end());
  bool numeric = !labels.empty();
  for (const auto& l : labels) {
    int64_t v = 0;
    numeric = numeric && parse_int(l, v);
  }
  if (numeric)
    std::sort(labels.begin(), labels.end(),
              [](const std::string& a, const std::string& b) { return std::stoll(a) < std::stoll(b); });
  return labels;
}

// What planning knows before any data is built (`runner check`): the number of classes, num_labels, from the
// `labels` option or else the train file's labels (its records are read, not tokenized: a malformed record is
// already an error here), beside the tokenizer's facts. Options sized by the classes (a loss's class_weights) are
// checked against it. A file is read once per process for its label count (keyed by path, size, modification time
// and the options), since every stage that names the data asks.
PlanFacts facts(const Options& o, const FactLookup& lookup) {
  PlanFacts out = lookup(o.node("tokenizer"), "tokenizer");
  const Settings s = settings_from(o);
  if (o.has("labels")) {
    out["num_labels"] = static_cast<int64_t>(fixed_labels_of(o, s).size());
    return out;
  }
  if (!o.has("train")) return out;
  const fs::path file = o.path("train");
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return out;  // a file made later; the data reports its classes when built
  const auto size = fs::file_size(file, ec);
  const auto time = fs::last_write_time(file, ec).time_since_epoch().count();
  const std::string key = fmt::format("{}\n{}\n{}\n{}", file.string(), size, time, to_yaml(o.resolved()));
  static std::mutex mutex;
  static std::map<std::string, int64_t> label_counts;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = label_counts.find(key);
  if (it == label_counts.end()) {
    int64_t skipped = 0;
    std::string first_skipped;
    const auto records = text_records::read_records(s, file, skipped, first_skipped);
    it = label_counts.emplace(key, static_cast<int64_t>(labels_of_records(records).size())).first;
  }
  if (it->second > 0) out["num_labels"] = it->second;
  return out;
}

}  // namespace stagehand::text_classification

STAGEHAND_PLUGIN_FACTS(registrar) {
  stagehand::add_facts(registrar, "dataset", "text_classification", stagehand::text_classification::facts);
}
