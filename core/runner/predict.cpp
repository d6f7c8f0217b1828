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
#include "stagehand/sdk/hf_checkpoint.h"
#include "stagehand/sdk/squad.h"

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

/// Rows of (ids, type ids) padded to the longest with the tokenizer's pad id, as the datasets batch them
/// (sdk::PaddedTokens).
using Row = std::pair<const std::vector<int32_t>*, const std::vector<int32_t>*>;
Batch batch_of(const std::vector<Row>& rows, int64_t pad_id) {
  size_t longest = 0;
  for (const auto& r : rows) longest = std::max(longest, r.first->size());
  sdk::PaddedTokens tokens(static_cast<int64_t>(rows.size()), static_cast<int64_t>(longest), pad_id);
  for (size_t r = 0; r < rows.size(); ++r)
    tokens.set_row(static_cast<int64_t>(r), rows[r].first->data(), rows[r].second->data(),
                   static_cast<int64_t>(rows[r].first->size()));
  Batch batch;
  tokens.put(batch);
  return batch;
}

Batch batch_of(const std::vector<Encoding>& rows, int64_t pad_id) {
  std::vector<Row> r;
  for (const auto& e : rows) r.emplace_back(&e.ids, &e.type_ids);
  return batch_of(r, pad_id);
}

/// Extractive QA: each line QUESTION<TAB>CONTEXT becomes the dataset's feature windows (squad::featurize with the
/// stage's max_seq_length, doc_stride, max_query_length); each window's best span (squad::decode), the best window
/// per question, as the probe stage and Hugging Face's SQuAD 2.0 evaluation decode them.
void answer_questions(const std::vector<squad::Example>& questions, const squad::FeatureOptions& fo,
                      const PredictOptions& o, const Tokenizer& tok, Model& model) {
  const std::vector<squad::Feature> features = squad::featurize(questions, tok, fo, /*training=*/false);
  std::vector<squad::Prediction> best(questions.size());
  std::vector<bool> seen(questions.size(), false);
  for (size_t start = 0; start < features.size(); start += static_cast<size_t>(o.batch_size)) {
    const size_t end = std::min(features.size(), start + static_cast<size_t>(o.batch_size));
    std::vector<Row> rows;
    for (size_t f = start; f < end; ++f) rows.emplace_back(&features[f].ids, &features[f].type_ids);
    const Batch out = model.forward(batch_of(rows, std::max(0, tok.special().pad)));
    SH_CHECK(out.has("start_logits") && out.has("end_logits"),
             "predict: stage '{}' reads SQuAD data but its model gives no start_logits / end_logits", o.stage);
    const torch::Tensor s = out.at("start_logits").to(torch::kFloat).contiguous();
    const torch::Tensor e = out.at("end_logits").to(torch::kFloat).contiguous();
    for (size_t f = start; f < end; ++f) {
      const int64_t r = static_cast<int64_t>(f - start) * s.size(1);
      const squad::Prediction p = squad::decode(s.data_ptr<float>() + r, e.data_ptr<float>() + r, features[f],
                                                o.max_answer_length, 0.0);
      const auto q = static_cast<size_t>(features[f].example_index);
      if (!seen[q] || p.score > best[q].score) best[q] = p, seen[q] = true;
    }
  }
  for (size_t q = 0; q < questions.size(); ++q) {
    const std::string answer = seen[q] ? squad::answer_text(questions[q], best[q]) : "";
    json j = {{"question", questions[q].question}, {"context", questions[q].context}, {"answer", answer},
              {"no_answer", answer.empty()}};
    if (seen[q]) j["score"] = best[q].score;
    std::cout << j.dump() << "\n";
  }
  std::cout.flush();
}

int predict_spans(const PredictOptions& o, const ConfigNode& data, const Tokenizer& tok, Model& model,
                  std::istream& in, const std::string& source) {
  SH_CHECK(o.pair, "predict: {} answers questions; give --pair and lines QUESTION<TAB>CONTEXT",
           o.stage.empty() ? o.run : "stage '" + o.stage + "'");
  SH_CHECK(o.max_answer_length >= 1, "predict: --max-answer-length {}: expected at least 1", o.max_answer_length);
  squad::FeatureOptions fo;
  for (auto [key, value] : {std::pair{"max_seq_length", &fo.max_seq_length}, {"doc_stride", &fo.doc_stride},
                            {"max_query_length", &fo.max_query_length}})
    if (const ConfigNode* n = data.find(key); n && n->is_int()) *value = n->as_int();
  std::vector<squad::Example> questions;
  int64_t line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t tab = line.find('\t');
    SH_CHECK(tab != std::string::npos, "{}:{}: no TAB; a question line is QUESTION<TAB>CONTEXT", source, line_no);
    questions.push_back(squad::make_example(std::to_string(line_no), line.substr(0, tab), line.substr(tab + 1)));
    if (static_cast<int>(questions.size()) == o.batch_size) answer_questions(questions, fo, o, tok, model), questions.clear();
  }
  if (!questions.empty()) answer_questions(questions, fo, o, tok, model);
  return 0;
}

std::string label_of(const std::vector<std::string>& labels, int64_t k) {
  return k >= 0 && static_cast<size_t>(k) < labels.size() ? labels[static_cast<size_t>(k)] : std::to_string(k);
}

/// For row `r`, each [MASK] of its ids in order: the 5 likeliest tokens and their probabilities. `logits` holds one
/// row per [MASK] of the whole batch, row-major (the mlm model's order).
json fill_masks(const torch::Tensor& logits, const std::vector<Encoding>& rows, size_t r, const Tokenizer& tok) {
  const int32_t mask = tok.special().mask;
  int64_t first = 0;
  for (size_t q = 0; q < r; ++q) first += std::count(rows[q].ids.begin(), rows[q].ids.end(), mask);
  json masks = json::array();
  for (size_t k = 0; k < rows[r].ids.size(); ++k) {
    if (rows[r].ids[k] != mask) continue;
    const auto [p, idx] = torch::softmax(logits[first++].to(torch::kDouble), 0).topk(5);
    json tokens = json::array(), probs = json::array();
    for (int64_t i = 0; i < idx.size(0); ++i) {
      tokens.push_back(tok.id_to_token(static_cast<int32_t>(idx[i].item<int64_t>())));
      probs.push_back(p[i].item<double>());
    }
    masks.push_back({{"position", k}, {"tokens", tokens}, {"probabilities", probs}});
  }
  return masks;
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
    } else if (out.has("mlm_logits")) {  // fill-mask: the likeliest tokens at each [MASK] typed in the text
      j["masks"] = fill_masks(out.at("mlm_logits"), rows, r, tok);
    } else if (out.has("rtd_logits")) {  // ELECTRA's discriminator: how likely each token was replaced
      const torch::Tensor p = torch::sigmoid(out.at("rtd_logits")[i].to(torch::kDouble));
      json tokens = json::array(), replaced = json::array();
      for (size_t k = 0; k < rows[r].ids.size(); ++k) {
        if (!rows[r].attention_mask[k] || rows[r].special_tokens_mask[k]) continue;
        tokens.push_back(tok.id_to_token(rows[r].ids[k]));
        replaced.push_back(p[static_cast<int64_t>(k)].item<double>());
      }
      j["tokens"] = tokens;
      j["replaced"] = replaced;
    } else {
      fail("predict: the model's outputs have neither logits, replaced-token scores nor embeddings; it cannot be "
           "used on raw text here");
    }
    std::cout << j.dump() << "\n";
  }
  std::cout.flush();
}

}  // namespace

namespace {

/// Each input line encoded as the data was (`eo`), run through the model in batches, printed as print_rows does.
int predict_lines(const PredictOptions& o, std::istream& in, const std::string& source, const Tokenizer& tok,
                  Model& model, const std::vector<std::string>& labels, const EncodeOptions& eo) {
  std::vector<std::string> texts;
  std::vector<Encoding> rows;
  const ConfigNode spec = model.spec();
  const bool fill_mask = spec.has("type") && spec.at("type").as_string() == "mlm";
  auto flush = [&] {
    if (texts.empty()) return;
    Batch batch = batch_of(rows, std::max(0, tok.special().pad));
    if (fill_mask) {  // predict at the [MASK]s typed in the texts, the input as it is
      SH_CHECK(tok.special().mask >= 0, "predict: the tokenizer has no '{}' token to mark where to predict",
               tok.special().mask_token);
      batch.set("mlm_positions", batch.at("input_ids").eq(tok.special().mask));
    }
    print_rows(model.forward(batch), texts, rows, tok, labels);
    texts.clear();
    rows.clear();
  };
  int64_t line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (o.pair) {
      const size_t tab = line.find('\t');
      SH_CHECK(tab != std::string::npos, "{}:{}: no TAB; --pair expects each line as TEXT_A<TAB>TEXT_B", source,
               line_no);
      rows.push_back(tok.encode_pair(std::string_view(line).substr(0, tab), std::string_view(line).substr(tab + 1), eo));
    } else {
      rows.push_back(tok.encode(line, eo));
    }
    texts.push_back(line);
    if (static_cast<int>(texts.size()) == o.batch_size) flush();
  }
  flush();
  return 0;
}

struct Input {
  std::ifstream file;
  std::istream* in = &std::cin;
  std::string source = "<stdin>";
  explicit Input(const std::string& path) {
    if (path.empty()) return;
    file.open(path);
    SH_CHECK(file.good(), "predict: cannot read '{}'", path);
    in = &file;
    source = path;
  }
};

/// A Hugging Face model folder (exported, or downloaded): model {type: hf} (a classifier, tagger, question answerer,
/// ELECTRA discriminator or a pretraining folder's NSP/SOP head), its own tokenizer, the label names of
/// hf::label_names, texts cut at the encoder's positions; questions with SQuAD's default windows.
int predict_from_folder(const PredictOptions& o, const fs::path& folder, Registry& registry) {
  BuildContext bc;
  bc.registry = &registry;
  bc.base_dir = fs::current_path();
  const std::string abs = fs::absolute(folder).string();
  auto tok = registry.create<Tokenizer>(parse_yaml(fmt::format("{{type: hf, path: \"{}\"}}", abs), "predict"), bc);
  auto model = registry.create<Model>(parse_yaml(fmt::format("{{type: hf, path: \"{}\"}}", abs), "predict"), bc);
  model->eval();
  torch::NoGradGuard no_grad;
  EncodeOptions eo;
  const ConfigNode spec = model->spec();
  if (const ConfigNode* m = spec.find_path("encoder.max_positions"); m && m->is_int()) {
    const ConfigNode* offset = spec.find_path("encoder.position_offset");
    eo.max_length = static_cast<int32_t>(m->as_int() - (offset && offset->is_int() ? offset->as_int() : 0));
  }
  Input input(o.file);
  if (spec.has("type") && spec.at("type").as_string() == "extractive_qa")  // <Type>ForQuestionAnswering
    return predict_spans(o, ConfigNode::map({}), *tok, *model, *input.in, input.source);
  return predict_lines(o, *input.in, input.source, *tok, *model, hf::label_names(folder), eo);
}

}  // namespace

int cmd_predict(const PredictOptions& given) {
  PredictOptions o = given;
  SH_CHECK(o.batch_size >= 1, "predict: --batch-size {}: expected at least 1", o.batch_size);
  fs::path run_dir(o.run);
  if (fs::is_regular_file(run_dir)) run_dir = run_dir.parent_path();
  if (run_dir.filename().empty()) run_dir = run_dir.parent_path();  // a trailing '/'
  // A stage's folder in a run (runs/<pipeline>/<id>/stages/<name>): that run, that stage.
  if (fs::is_regular_file(run_dir / "stage.yaml")) {
    const std::string name = load_yaml_file(run_dir / "stage.yaml").at("stage").as_string();
    SH_CHECK(run_dir.parent_path().filename() == "stages" &&
                 fs::is_regular_file(run_dir.parent_path().parent_path() / "record.yaml"),
             "predict: {} is stage '{}''s output outside a run folder (in the cache); give the run folder and "
             "--stage {}", o.run, name, name);
    SH_CHECK(o.stage.empty() || o.stage == name, "predict: {} is stage '{}''s folder, but --stage says '{}'", o.run,
             name, o.stage);
    o.stage = name;
    run_dir = run_dir.parent_path().parent_path();
  }
  Registry registry;
  PluginLoader loader(registry);
  loader.load_default();
  for (const auto& p : o.plugins) loader.load(p, "command line");
  if (!fs::is_regular_file(run_dir / "record.yaml") && fs::is_regular_file(run_dir / "config.json"))
    return predict_from_folder(o, run_dir, registry);
  SH_CHECK(fs::is_regular_file(run_dir / "record.yaml"),
           "predict: '{}' is neither a run folder (no record.yaml) nor a Hugging Face folder (no config.json); give "
           "runs/<pipeline>/<run id>, its record.yaml, or a fine-tuned model folder", o.run);
  SH_CHECK(!o.stage.empty(), "predict: name the trained stage of run {} with --stage NAME", run_dir.string());
  const fs::path dir = stage_dir(run_dir, o.stage);
  const ConfigNode stage = load_yaml_file(dir / "stage.yaml");
  const ConfigNode* data = stage.find_path("options.data");
  SH_CHECK(data != nullptr && data->is_map(),
           "predict: stage '{}' has no data options to take the tokenizer and labels from; name a train stage",
           o.stage);
  BuildContext bc;
  bc.registry = &registry;
  bc.base_dir = dir;
  bc.provided = [&](const std::string& s, const std::string& kind, const Location&) {
    return provided(run_dir, s, kind);
  };
  const bool is_squad = data->has("type") && data->at("type").is_scalar() && data->at("type").as_string() == "squad";
  auto tok = registry.create<Tokenizer>(data->at("tokenizer"), bc);
  auto model = registry.create<Model>(provided(run_dir, o.stage, "model"), bc);
  model->eval();
  torch::NoGradGuard no_grad;
  Input input(o.file);
  if (is_squad) return predict_spans(o, *data, *tok, *model, *input.in, input.source);
  // The label names as the stage saw them: its dataset, built again from the same options.
  const std::vector<std::string> labels = registry.create<Dataset>(*data, bc)->labels();
  EncodeOptions eo;
  if (const ConfigNode* m = data->find("max_length"); m && m->is_int()) eo.max_length = static_cast<int32_t>(m->as_int());
  return predict_lines(o, *input.in, input.source, *tok, *model, labels, eo);
}

}  // namespace stagehand
