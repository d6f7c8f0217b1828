// SPDX-License-Identifier: Apache-2.0
// `runner predict RUN --stage NAME`: rebuilds what the stage trained from its run, exactly as a later stage of the
// pipeline would: the model from the stage's outputs.yaml, the tokenizer and the label names from its data options
// (stage.yaml; a tokenizer given as a stage name is read from that stage's outputs in the same run), then encodes
// each input line as the dataset does (its max_length, [CLS] a [SEP] b [SEP]) and prints one JSON line per input.
#include "predict.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "stagehand/batch.h"
#include "stagehand/config.h"
#include "stagehand/dataset.h"
#include "stagehand/error.h"
#include "stagehand/model.h"
#include "stagehand/registry.h"
#include "stagehand/schema.h"
#include "stagehand/tokenizer.h"
#include "stagehand/sdk/collate.h"

#include "plugin/loader.h"

namespace stagehand {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

/// The output folder of `stage` in the run folder `run_dir` (its stages/<name> link to the cache entry).
fs::path stage_dir(const fs::path& run_dir, const std::string& stage) {
  const fs::path dir = run_dir / "stages" / stage;
  if (fs::is_regular_file(dir / "outputs.yaml")) return dir;
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(run_dir / "stages", ec)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  const std::string dym = closest_match(stage, names);
  fail("predict: stage '{}' has no outputs in the run {}{}; its stages are {}", stage, run_dir.string(),
       dym.empty() ? "" : fmt::format(" (did you mean '{}'?)", dym), fmt::join(names, ", "));
}

/// What `stage` provides as `kind`, read from its outputs.yaml (paths in it resolve against its own folder).
ConfigNode provided(const fs::path& run_dir, const std::string& stage, const std::string& kind) {
  const ConfigNode out = load_yaml_file(stage_dir(run_dir, stage) / "outputs.yaml");
  const ConfigNode* p = out.find_path("provides." + kind);
  SH_CHECK(p != nullptr, "predict: stage '{}' provides no {}", stage, kind);
  return *p;
}

/// The rows padded to the longest with the tokenizer's pad id, as the datasets batch them (sdk::PaddedTokens).
Batch batch_of(const std::vector<Encoding>& rows, int64_t pad_id) {
  size_t longest = 0;
  for (const auto& e : rows) longest = std::max(longest, e.ids.size());
  sdk::PaddedTokens tokens(static_cast<int64_t>(rows.size()), static_cast<int64_t>(longest), pad_id);
  for (size_t r = 0; r < rows.size(); ++r)
    tokens.set_row(static_cast<int64_t>(r), rows[r].ids.data(), rows[r].type_ids.data(),
                   static_cast<int64_t>(rows[r].ids.size()));
  Batch batch;
  tokens.put(batch);
  return batch;
}

std::string label_of(const std::vector<std::string>& labels, int64_t k) {
  return k >= 0 && static_cast<size_t>(k) < labels.size() ? labels[static_cast<size_t>(k)] : std::to_string(k);
}

/// One JSON line per row of the batch.
void print_rows(const Batch& out, const std::vector<std::string>& texts, const std::vector<Encoding>& rows,
                const Tokenizer& tok, const std::vector<std::string>& labels) {
  for (size_t r = 0; r < texts.size(); ++r) {
    const auto i = static_cast<int64_t>(r);
    json j = {{"text", texts[r]}};
    if (out.has("embeddings")) {
      const torch::Tensor v = out.at("embeddings")[i].to(torch::kDouble).contiguous();
      j["embedding"] = std::vector<double>(v.data_ptr<double>(), v.data_ptr<double>() + v.numel());
    } else if (out.has("logits") && out.at("logits").dim() == 2) {
      const torch::Tensor p = torch::softmax(out.at("logits")[i].to(torch::kDouble), 0).contiguous();
      json probs = json::object();
      for (int64_t k = 0; k < p.size(0); ++k) probs[label_of(labels, k)] = p[k].item<double>();
      j["label"] = label_of(labels, p.argmax().item<int64_t>());
      j["probabilities"] = probs;
    } else if (out.has("logits") && out.at("logits").dim() == 3) {
      const torch::Tensor best = out.at("logits")[i].argmax(-1);
      json tokens = json::array(), tags = json::array();
      for (size_t k = 0; k < rows[r].ids.size(); ++k) {
        if (!rows[r].attention_mask[k] || rows[r].special_tokens_mask[k]) continue;
        tokens.push_back(tok.id_to_token(rows[r].ids[k]));
        tags.push_back(label_of(labels, best[static_cast<int64_t>(k)].item<int64_t>()));
      }
      j["tokens"] = tokens;
      j["tags"] = tags;
    } else {
      fail("predict: the model's outputs have neither logits nor embeddings; it cannot be used on raw text here");
    }
    std::cout << j.dump() << "\n";
  }
  std::cout.flush();
}

}  // namespace

int cmd_predict(const PredictOptions& o) {
  SH_CHECK(o.batch_size >= 1, "predict: --batch-size {}: expected at least 1", o.batch_size);
  fs::path run_dir(o.run);
  if (fs::is_regular_file(run_dir)) run_dir = run_dir.parent_path();
  SH_CHECK(fs::is_regular_file(run_dir / "record.yaml"),
           "predict: '{}' is not a run folder (no record.yaml); give runs/<pipeline>/<run id> or its record.yaml",
           o.run);
  const fs::path dir = stage_dir(run_dir, o.stage);
  const ConfigNode stage = load_yaml_file(dir / "stage.yaml");
  const ConfigNode* data = stage.find_path("options.data");
  SH_CHECK(data != nullptr && data->is_map(),
           "predict: stage '{}' has no data options to take the tokenizer and labels from; name a train stage",
           o.stage);

  Registry registry;
  PluginLoader loader(registry);
  loader.load_default();
  for (const auto& p : o.plugins) loader.load(p, "command line");
  BuildContext bc;
  bc.registry = &registry;
  bc.base_dir = dir;
  bc.provided = [&](const std::string& s, const std::string& kind, const Location&) {
    return provided(run_dir, s, kind);
  };
  // The label names as the stage saw them: its dataset, built again from the same options.
  const std::vector<std::string> labels = registry.create<Dataset>(*data, bc)->labels();
  auto tok = registry.create<Tokenizer>(data->at("tokenizer"), bc);
  auto model = registry.create<Model>(provided(run_dir, o.stage, "model"), bc);
  model->eval();
  torch::NoGradGuard no_grad;

  EncodeOptions eo;
  if (const ConfigNode* m = data->find("max_length"); m && m->is_int()) eo.max_length = static_cast<int32_t>(m->as_int());
  std::ifstream file;
  if (!o.file.empty()) {
    file.open(o.file);
    SH_CHECK(file.good(), "predict: cannot read '{}'", o.file);
  }
  std::istream& in = o.file.empty() ? std::cin : file;
  std::vector<std::string> texts;
  std::vector<Encoding> rows;
  auto flush = [&] {
    if (texts.empty()) return;
    print_rows(model->forward(batch_of(rows, std::max(0, tok->special().pad))), texts, rows, *tok, labels);
    texts.clear();
    rows.clear();
  };
  int64_t line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (o.pair) {
      const size_t tab = line.find('\t');
      SH_CHECK(tab != std::string::npos, "{}:{}: no TAB; --pair expects each line as TEXT_A<TAB>TEXT_B",
               o.file.empty() ? "<stdin>" : o.file, line_no);
      rows.push_back(tok->encode_pair(std::string_view(line).substr(0, tab), std::string_view(line).substr(tab + 1), eo));
    } else {
      rows.push_back(tok->encode(line, eo));
    }
    texts.push_back(line);
    if (static_cast<int>(texts.size()) == o.batch_size) flush();
  }
  flush();
  return 0;
}

}  // namespace stagehand
