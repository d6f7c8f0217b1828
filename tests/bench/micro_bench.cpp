// SPDX-License-Identifier: Apache-2.0
// `micro_bench`: timings that used to be printed by unit tests (a timing proves nothing in a test; here it is a
// benchmark, run by `make bench`, never by ctest). Each line is one JSON object:
//   wordpiece_pieces   the wordpiece tokenizer (uncased bert-base vocabulary, one thread) on the Hugging Face
//                      parity texts (tests/data/tokenizers/wordpiece_fixtures.jsonl): tokens/s and MB/s; compare
//                      with tests/data/tokenizers/bench_hf_wordpiece.js (Hugging Face `tokenizers`) on the same texts
//   wordpiece_train    the wordpiece trainer, vocabulary 30,522, on a ~5 MB corpus made from the Bible excerpt
//   bpe_pieces         the bpe tokenizer (GPT-2's vocabulary and merges, one thread, its pre-token cache warm after
//                      the first pass) on the Hugging Face parity texts (tests/data/tokenizers/bpe_fixtures.jsonl)
//   bert_tiny_forward  one bert-tiny forward (eval, no grad) on an (8, 128) batch: median and min of 20, in ms
//   tokenize           `micro_bench tokenize SPEC TEXTS.jsonl SECONDS [PLUGIN_DIR]`: the tokenizer SPEC (YAML) on the
//                      "text" of every line of TEXTS, one thread, for at least SECONDS: one JSON line with the same
//                      fields as bench/peer/hf_tokenizers.js (scripts/bench_tokenizers.py runs both in one run)
// Usage: micro_bench [PLUGIN_DIR [TEST_DATA_DIR]] (defaults: the build's plugin folder and tests/data).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "stagehand/config.h"
#include "stagehand/encoder.h"
#include "stagehand/error.h"
#include "plugin/loader.h"
#include "stagehand/registry.h"
#include "stagehand/tokenizer.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::vector<std::string> lines_of(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw stagehand::Error(fmt::format("micro_bench: cannot read {}; pass the test data folder", file.string()));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

void load(stagehand::PluginLoader& loader, const fs::path& so) {
  if (loader.load(so) == nullptr)
    throw stagehand::Error(fmt::format("micro_bench: {} was not loaded: {}; build the plugins first", so.string(),
                                       loader.refused().empty() ? "?" : loader.refused().back().reason));
}

void wordpiece(stagehand::Registry& registry, const fs::path& data) {
  stagehand::BuildContext ctx;
  ctx.registry = &registry;
  const fs::path vocab = data / "tokenizers" / "bert-base-uncased-vocab.txt";
  auto tok = registry.create<stagehand::Tokenizer>(
      stagehand::parse_yaml(fmt::format("{{type: wordpiece, vocab: {}, lowercase: true}}", json(vocab.string()).dump()),
                            "micro_bench"),
      ctx);
  std::vector<std::string> texts;
  size_t bytes = 0;
  const auto fixture = lines_of(data / "tokenizers" / "wordpiece_fixtures.jsonl");
  for (size_t i = 1; i < fixture.size(); ++i) {  // line 0 is the header
    texts.push_back(json::parse(fixture[i]).at("text").get<std::string>());
    bytes += texts.back().size();
  }
  size_t tokens = 0, passes = 0;
  const auto t0 = std::chrono::steady_clock::now();
  double seconds = 0;
  while (seconds < 1.0 || passes < 3) {
    for (const std::string& t : texts) tokens += tok->pieces(t).size();
    ++passes;
    seconds = since(t0);
  }
  std::printf("%s\n", json{{"bench", "wordpiece_pieces"}, {"threads", 1}, {"texts", texts.size()}, {"passes", passes},
                           {"tokens_per_s", tokens / seconds}, {"mb_per_s", bytes * passes / seconds / 1e6}}
                          .dump()
                          .c_str());

  // A ~5 MB corpus that keeps bringing new words: word pairs glued together differently in every round.
  const fs::path dir = fs::temp_directory_path() / fmt::format("stagehand-micro-bench-{}", ::getpid());
  fs::create_directories(dir);
  {
    std::ofstream out(dir / "corpus.txt", std::ios::binary);
    const auto lines = lines_of(data / "corpora" / "web_bible_excerpt.txt");
    size_t written = 0;
    for (size_t round = 0; written < 5'000'000; ++round)
      for (std::string s : lines) {
        for (size_t at = (round * 7) % 13 + 1; at < s.size(); at += 17 + round % 11)
          if (s[at] == ' ') s.erase(at, 1);
        out << s << '\n';
        written += s.size() + 1;
      }
  }
  auto trainer = registry.create<stagehand::TokenizerTrainer>(stagehand::parse_yaml("{type: wordpiece}", "micro_bench"), ctx);
  const auto t1 = std::chrono::steady_clock::now();
  trainer->train({dir / "corpus.txt"}, dir / "out", {});
  std::printf("%s\n", json{{"bench", "wordpiece_train"}, {"vocab_size", 30522}, {"corpus_mb", 5}, {"seconds", since(t1)}}
                          .dump()
                          .c_str());
  fs::remove_all(dir);
}

void bpe(stagehand::Registry& registry, const fs::path& data) {
  stagehand::BuildContext ctx;
  ctx.registry = &registry;
  const fs::path dir = data / "tokenizers" / "gpt2";
  auto tok = registry.create<stagehand::Tokenizer>(
      stagehand::parse_yaml(fmt::format("{{type: bpe, vocab: {}, merges: {}, layout: none}}",
                                        json((dir / "vocab.json").string()).dump(),
                                        json((dir / "merges.txt").string()).dump()),
                            "micro_bench"),
      ctx);
  std::vector<std::string> texts;
  size_t bytes = 0;
  const auto fixture = lines_of(data / "tokenizers" / "bpe_fixtures.jsonl");
  for (size_t i = 1; i < fixture.size(); ++i) {  // line 0 is the header
    texts.push_back(json::parse(fixture[i]).at("text").get<std::string>());
    bytes += texts.back().size();
  }
  size_t tokens = 0, passes = 0;
  const auto t0 = std::chrono::steady_clock::now();
  double seconds = 0;
  while (seconds < 1.0 || passes < 3) {
    for (const std::string& t : texts) tokens += tok->pieces(t).size();
    ++passes;
    seconds = since(t0);
  }
  std::printf("%s\n", json{{"bench", "bpe_pieces"}, {"threads", 1}, {"texts", texts.size()}, {"passes", passes},
                           {"tokens_per_s", tokens / seconds}, {"mb_per_s", bytes * passes / seconds / 1e6}}
                          .dump()
                          .c_str());
}

void bert_tiny(stagehand::Registry& registry) {
  stagehand::BuildContext ctx;
  ctx.registry = &registry;
  ctx.seed = 1;
  auto enc = registry.create<stagehand::Encoder>(
      stagehand::parse_yaml("{type: transformer, preset: bert-tiny}", "micro_bench"), ctx);
  enc->eval();
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);
  const torch::Tensor ids = torch::randint(1000, 30000, {8, 128}, torch::kLong);
  const torch::Tensor mask = torch::ones({8, 128}, torch::kLong);
  for (int i = 0; i < 3; ++i) enc->encode({ids, mask, {}});
  std::vector<double> ms;
  for (int i = 0; i < 20; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    (void)enc->encode({ids, mask, {}}).last().sum().item<float>();
    ms.push_back(since(t0) * 1e3);
  }
  std::sort(ms.begin(), ms.end());
  std::printf("%s\n", json{{"bench", "bert_tiny_forward"}, {"batch", {8, 128}}, {"intra_op_threads", at::get_num_threads()},
                           {"median_ms", ms[ms.size() / 2]}, {"min_ms", ms.front()}}
                          .dump()
                          .c_str());
}

}  // namespace

/// `micro_bench tokenize SPEC TEXTS SECONDS [PLUGIN_DIR]`: pieces (id, token, offsets) of every text, one thread.
int tokenize(int argc, char** argv) {
  if (argc < 5) throw stagehand::Error("usage: micro_bench tokenize SPEC TEXTS.jsonl SECONDS [PLUGIN_DIR]");
  const fs::path plugins = argc > 5 ? fs::path(argv[5]) : fs::path(STAGEHAND_PLUGIN_DIR);
  stagehand::Registry registry;
  stagehand::PluginLoader loader(registry);
  for (const char* so : {"tokenizer_wordpiece.so", "tokenizer_sentencepiece.so", "tokenizer_bpe.so"})
    load(loader, plugins / so);
  stagehand::BuildContext ctx;
  ctx.registry = &registry;
  const stagehand::ConfigNode spec = stagehand::parse_yaml(argv[2], "micro_bench tokenize");
  auto tok = registry.create<stagehand::Tokenizer>(spec, ctx);
  std::vector<std::string> texts;
  size_t bytes = 0;
  for (const std::string& line : lines_of(argv[3])) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    texts.push_back(json::parse(line).at("text").get<std::string>());
    bytes += texts.back().size();
  }
  size_t per_pass = 0;  // one pass outside the timed loop: warm-up, and the tokens of a pass
  for (const std::string& t : texts) per_pass += tok->pieces(t).size();
  const double wanted = std::stod(argv[4]);
  size_t passes = 0, tokens = 0;
  const auto t0 = std::chrono::steady_clock::now();
  double seconds = 0;
  while (seconds < wanted || passes < 2) {
    for (const std::string& t : texts) tokens += tok->pieces(t).size();
    ++passes;
    seconds = since(t0);
  }
  std::printf("%s\n", json{{"side", "stagehand"}, {"tokenizer", spec.at("type").as_string()}, {"texts", texts.size()},
                           {"bytes", bytes}, {"passes", passes}, {"tokens_per_pass", per_pass}, {"seconds", seconds},
                           {"tokens_per_s", tokens / seconds}, {"mb_per_s", bytes * passes / seconds / 1e6}}
                          .dump()
                          .c_str());
  return 0;
}

int main(int argc, char** argv) {
  try {
    if (argc > 1 && std::string(argv[1]) == "tokenize") return tokenize(argc, argv);
    const fs::path plugins = argc > 1 ? fs::path(argv[1]) : fs::path(STAGEHAND_PLUGIN_DIR);
    const fs::path data = argc > 2 ? fs::path(argv[2]) : fs::path(STAGEHAND_TEST_DATA);
    stagehand::Registry registry;
    stagehand::PluginLoader loader(registry);
    load(loader, plugins / "tokenizer_wordpiece.so");
    load(loader, plugins / "tokenizer_bpe.so");
    load(loader, plugins / "encoder_transformer.so");
    wordpiece(registry, data);
    bpe(registry, data);
    bert_tiny(registry);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "micro_bench: error: %s\n", e.what());
    return 1;
  }
}
