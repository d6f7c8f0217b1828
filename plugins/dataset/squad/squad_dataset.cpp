// SPDX-License-Identifier: Apache-2.0
// Dataset `squad`: SQuAD 2.0 (or 1.1) JSON files as extractive-QA features, one per doc-stride window of a
// question's context, made as Hugging Face's squad_convert_examples_to_features makes them (squad.h): max_seq_length
// 384, doc_stride 128, max_query_length 64; `[CLS] question [SEP] window [SEP]` (RoBERTa's layout:
// `<s> question </s></s> window </s>`, type ids all 0); unanswerable questions and answers outside a window point at
// [CLS]. The train split is featurized for training (examples whose answer text is not
// at its answer_start are left out, as Hugging Face does, and counted); the other splits keep every question, and
// their features carry answer positions too, so a validation loss exists. A malformed entry fails naming the file and
// its JSON path (data[a].paragraphs[p].qas[q]: SQuAD files are one line of JSON, so a line number would not locate
// it), or with on_bad_record: skip is left out and counted (hint skipped_records, in the stage's record).
//
// batch(split, indices) indexes features:
//   input_ids, attention_mask, token_type_ids  (B, T) int64, padded to the batch's longest feature
//   start_positions, end_positions             (B) int64, the answer's tokens, 0 for none
//   context_begin, context_end                 (B) int64, the context's tokens [begin, end); end = the final [SEP]
//   example_index                              (B) int64, the question's index in its split
//   token_to_word                              (B, T) int64, the context word of each token, -1 elsewhere
//   ids                                        "<question id>#<window>"
// The questions themselves (gold answers, context words), which scoring needs, are shared through the typed
// interface squad::SquadSource (stagehand/sdk/squad.h), which this dataset implements.
#include <algorithm>
#include <iostream>

#include <torch/types.h>

#include <stagehand/dataset.h>
#include <stagehand/plugin.h>
#include <stagehand/tokenizer.h>

#include <stagehand/sdk/collate.h>
#include <stagehand/sdk/squad.h>

namespace stagehand {
namespace {

constexpr const char* kOwner = "squad";

class SquadDataset : public Dataset, public squad::SquadSource {
 public:
  SquadDataset(const Options& o, const BuildContext& ctx) {
    SH_CHECK(ctx.registry != nullptr, "{}: built without a registry, so its tokenizer cannot be built", kOwner);
    auto tok = ctx.registry->create<Tokenizer>(o.node("tokenizer"), ctx);
    pad_id_ = tok->special().pad >= 0 ? tok->special().pad : 0;
    squad::FeatureOptions fo;
    fo.max_seq_length = o.get<int64_t>("max_seq_length");
    fo.doc_stride = o.get<int64_t>("doc_stride");
    fo.max_query_length = o.get<int64_t>("max_query_length");
    const bool skip_bad = o.get<std::string>("on_bad_record") == "skip";
    int64_t skipped_records = 0;
    for (const char* split : {"train", "validation", "test"}) {
      if (!o.has(split)) continue;
      const auto file = o.path(split);
      squad::ReadReport report;
      auto examples = squad::read_squad(file, skip_bad, &report);
      SH_CHECK(!examples.empty(), "{}: {} has no questions{}; split '{}' would be empty", kOwner, file.string(),
               report.skipped > 0 ? fmt::format(" but the {} malformed entries on_bad_record: skip left out",
                                                report.skipped)
                                  : "",
               split);
      if (report.skipped > 0) {
        // Components have no logger of their own; stderr is where the run log's console lines go too.
        std::cerr << fmt::format("{}: {} '{}': skipped {} malformed entr{} (on_bad_record: skip); the first: {}\n",
                                 kOwner, split, file.filename().string(), report.skipped,
                                 report.skipped == 1 ? "y" : "ies", report.first);
        skipped_records += report.skipped;
      }
      int64_t skipped = 0;
      auto features = squad::featurize(examples, *tok, fo, std::string(split) == "train", &skipped);
      int64_t answerable = 0;
      for (const auto& e : examples) answerable += !e.is_impossible;
      std::cerr << fmt::format("{}: {} '{}': {} questions ({} answerable), {} features{}\n", kOwner, split,
                               file.filename().string(), examples.size(), answerable, features.size(),
                               skipped > 0 ? fmt::format(", {} left out (answer text not at answer_start)", skipped)
                                           : "");
      splits_.examples[split] = std::move(examples);
      splits_.features[split] = std::move(features);
      order_.push_back(split);
    }
    SH_CHECK(!order_.empty(), "{}: no file given; set train, validation and/or test to SQuAD JSON files", kOwner);
    hints_ = {{"vocab_size", tok->vocab_size()}, {"pad_id", pad_id_}, {"skipped_records", skipped_records}};
  }

  std::vector<std::string> splits() const override { return order_; }
  int64_t size(const std::string& split) const override { return static_cast<int64_t>(features(split).size()); }
  std::map<std::string, int64_t> hints() const override { return hints_; }
  const squad::Splits& squad_splits() const override { return splits_; }

  Batch batch(const std::string& split, const std::vector<int64_t>& indices) const override {
    const auto& fs = features(split);
    sdk::check_indices(indices, static_cast<int64_t>(fs.size()), kOwner, split, "feature");
    int64_t longest = 0;
    for (int64_t i : indices)
      longest = std::max<int64_t>(longest, static_cast<int64_t>(fs[static_cast<size_t>(i)].ids.size()));
    const auto b = static_cast<int64_t>(indices.size());
    sdk::PaddedTokens tokens(b, longest, pad_id_);
    auto words = torch::full({b, longest}, int64_t{-1}, torch::kLong);
    auto start = torch::zeros({b}, torch::kLong), end = torch::zeros({b}, torch::kLong);
    auto cb = torch::zeros({b}, torch::kLong), ce = torch::zeros({b}, torch::kLong);
    auto example = torch::zeros({b}, torch::kLong);
    auto* wp = words.data_ptr<int64_t>();
    Batch out;
    for (int64_t r = 0; r < b; ++r) {
      const squad::Feature& f = fs[static_cast<size_t>(indices[static_cast<size_t>(r)])];
      const auto n = static_cast<int64_t>(f.ids.size());
      tokens.set_row(r, f.ids.data(), f.type_ids.data(), n);
      std::copy_n(f.token_to_word.data(), n, wp + r * longest);
      start[r] = f.start_position;
      end[r] = f.end_position;
      cb[r] = f.context_begin;
      ce[r] = f.context_end;
      example[r] = f.example_index;
      out.ids.push_back(fmt::format("{}#{}", splits_.examples.at(split)[static_cast<size_t>(f.example_index)].qid,
                                    f.window));
    }
    tokens.put(out);
    out.set("token_to_word", words);
    out.set("start_positions", start);
    out.set("end_positions", end);
    out.set("context_begin", cb);
    out.set("context_end", ce);
    out.set("example_index", example);
    return out;
  }

 private:
  const std::vector<squad::Feature>& features(const std::string& split) const {
    auto it = splits_.features.find(split);
    SH_CHECK(it != splits_.features.end(), "{}: no split '{}'; this dataset has [{}] (set train / validation / test)",
             kOwner, split, fmt::join(order_, ", "));
    return it->second;
  }

  squad::Splits splits_;
  std::vector<std::string> order_;
  int64_t pad_id_ = 0;
  std::map<std::string, int64_t> hints_;
};

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  using stagehand::OptionType;
  registrar
      .add<stagehand::Dataset>(
          "squad",
          "SQuAD 2.0 JSON as extractive-QA features (Hugging Face's doc-stride windows); questions shared with the "
          "probe stage for official SQuAD 2.0 scoring",
          stagehand::Schema()
              .component("tokenizer", "tokenizer", "tokenizer spec, or the name of a tokenizer stage")
              .optional("train", OptionType::Path, "training file (train-v2.0.json)")
              .optional("validation", OptionType::Path, "validation file (dev-v2.0.json)")
              .optional("test", OptionType::Path, "test file")
              .opt("max_seq_length", int64_t{384}, "tokens per feature, [CLS] and both [SEP] included")
              .min(8)
              .opt("doc_stride", int64_t{128}, "context tokens between the starts of consecutive windows")
              .min(1)
              .opt("max_query_length", int64_t{64}, "question tokens kept (the rest cut)")
              .min(1)
              .choice("on_bad_record", "fail", {"fail", "skip"},
                      "a malformed question (or paragraph, or article): fail naming its JSON path, or leave it out "
                      "with everything under it (counted in hint skipped_records); a file that is not JSON always "
                      "fails"),
          [](const stagehand::Options& o, const stagehand::BuildContext& ctx) {
            return std::make_shared<stagehand::SquadDataset>(o, ctx);
          })
      .with_example(stagehand::parse_yaml(
          "{type: squad, validation: data/squad/public_domain/dev-v2.0.json, "
          "tokenizer: {type: wordpiece, vocab: tests/data/tokenizers/bert-base-uncased-vocab.txt}}",
          "example"));
}
