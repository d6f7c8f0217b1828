// SPDX-License-Identifier: Apache-2.0
// Stage kind `tokenizer`: trains a tokenizer on a corpus (or loads a given one), measures it on held-out
// text, and provides it to later stages. A later stage names it like any tokenizer:
//   data: {type: text_corpus, tokenizer: my_tokenizer_stage, ...}
#include <chrono>
#include <fstream>

#include <stagehand/plugin.h>
#include <stagehand/stage.h>
#include <stagehand/tokenizer.h>
#include <stagehand/files.h>

namespace stagehand {
namespace {
namespace fs = std::filesystem;

class TokenizerStage : public Stage {
 public:
  void run(StageContext& ctx) override {
    const Options& o = ctx.options();
    const bool train = o.has("train");
    const bool load = o.has("load");
    SH_CHECK(train != load,
             "give exactly one of 'train' (a tokenizer_trainer spec, with 'corpus') or 'load' (a tokenizer spec)");
    std::shared_ptr<Tokenizer> tok;
    BuildContext bc = ctx.build_context();
    if (train) {
      auto files = o.paths("corpus");
      SH_CHECK(!files.empty(), "'train' needs 'corpus': the text files to learn the vocabulary from");
      auto trainer = ctx.build<TokenizerTrainer>("train");
      ctx.info(fmt::format("training on {} file(s)", files.size()));
      auto t0 = std::chrono::steady_clock::now();
      ConfigNode spec = trainer->train(files, ctx.output_dir(), [&] { return ctx.stop_requested(); });
      if (ctx.stop_requested()) throw Interrupted(ctx.stop_signal());
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      ctx.timing("train_seconds", secs);
      // The trainer returns paths relative to the output folder; write the spec there so that it is read
      // back (and validated) exactly as later stages will read it.
      write_file_atomic(ctx.output_dir() / "tokenizer.yaml", to_yaml(spec));
      ConfigNode reread = load_yaml_file(ctx.output_dir() / "tokenizer.yaml");
      tok = ctx.registry().create<Tokenizer>(reread, bc);
    } else {
      tok = ctx.build<Tokenizer>("load");
    }
    // Always provide a self-contained copy: the stage output must not depend on files elsewhere.
    fs::path saved = ctx.output_dir() / "tokenizer";
    fs::create_directories(saved);
    ConfigNode spec = tok->save(saved);
    // Paths in the provided spec are relative to the stage folder.
    if (ConfigNode* entries = &spec; entries->is_map()) {
      for (auto& [k, v] : entries->entries()) {
        if (v.is_scalar() && v.quoted() && fs::exists(saved / v.text()))
          v = ConfigNode::of((fs::path("tokenizer") / v.text()).string());
      }
    }
    write_file_atomic(ctx.output_dir() / "tokenizer.yaml", to_yaml(spec));
    ctx.provide("tokenizer", spec);
    ctx.metric("vocab_size", tok->vocab_size());
    ctx.info(fmt::format("vocabulary of {} entries", tok->vocab_size()));

    auto heldout = o.paths("heldout");
    if (heldout.empty()) return;
    int64_t lines = 0, words = 0, pieces = 0, chars = 0, unk = 0;
    double enc_seconds = 0;
    const int32_t unk_id = tok->special().unk;
    int64_t max_lines = o.get<int64_t>("max_heldout_lines");
    for (const auto& f : heldout) {
      std::ifstream in(f);
      SH_CHECK(in.good(), "cannot read held-out file '{}'", f.string());
      std::string line;
      while (std::getline(in, line) && (max_lines == 0 || lines < max_lines)) {
        if (line.empty()) continue;
        ++lines;
        chars += static_cast<int64_t>(line.size());
        auto t0 = std::chrono::steady_clock::now();
        auto ps = tok->pieces(line);
        enc_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        pieces += static_cast<int64_t>(ps.size());
        int32_t last_word = -1;
        for (const auto& p : ps) {
          if (p.id == unk_id) ++unk;
          if (p.word != last_word) {
            ++words;
            last_word = p.word;
          }
        }
        if (lines % 256 == 0 && ctx.stop_requested()) throw Interrupted(ctx.stop_signal());
      }
    }
    SH_CHECK(lines > 0, "the held-out files hold no text: {}", heldout.front().string());
    ctx.metric("heldout_lines", static_cast<double>(lines));
    ctx.metric("pieces_per_word", words ? static_cast<double>(pieces) / static_cast<double>(words) : 0.0);
    ctx.metric("chars_per_piece", pieces ? static_cast<double>(chars) / static_cast<double>(pieces) : 0.0);
    if (enc_seconds > 0) ctx.timing("pieces_per_second", static_cast<double>(pieces) / enc_seconds);
    ctx.metric("unk_rate", pieces ? static_cast<double>(unk) / static_cast<double>(pieces) : 0.0);
    ctx.info(fmt::format("held-out: {} lines, {:.3f} pieces/word, {:.4f}% unknown, {:.0f} pieces/s", lines,
                         words ? static_cast<double>(pieces) / static_cast<double>(words) : 0.0,
                         pieces ? 100.0 * static_cast<double>(unk) / static_cast<double>(pieces) : 0.0,
                         enc_seconds > 0 ? static_cast<double>(pieces) / enc_seconds : 0.0));
  }

};

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  using stagehand::OptionType;
  registrar
      .add<stagehand::Stage>(
          "tokenizer", "train a tokenizer on a corpus (or load one) and measure it on held-out text",
          stagehand::Schema()
              .optional("train", OptionType::Component, "tokenizer_trainer spec, e.g. {type: sentencepiece, vocab_size: 8000}")
              .kind("tokenizer_trainer")
              .optional("load", OptionType::Component, "tokenizer spec to use as it is, e.g. {type: wordpiece, vocab: v.txt}")
              .kind("tokenizer")
              .optional("corpus", OptionType::Paths, "text files (globs allowed) to train on, one sentence a line")
              .optional("heldout", OptionType::Paths, "text files to measure the tokenizer on (pieces/word, unknown rate)")
              .opt("max_heldout_lines", int64_t{0}, "read at most this many held-out lines (0 = all)")
              .min(0),
          [](const stagehand::Options&) { return std::make_shared<stagehand::TokenizerStage>(); })
      .with_provides({"tokenizer"});
}
