// SPDX-License-Identifier: Apache-2.0
// The sentencepiece tokenizer plugin, loaded for real from the build's plugin folder.
//  - parity: ALBERT's 30k-clean.model encodes every fixture line exactly as Debian's spm_encode did
//    (fixtures made by tests/data/tokenizers/make_spm_fixtures.sh); models trained by the plugin encode
//    exactly as spm_encode encodes with them, and learn the same vocabulary as spm_train;
//  - training is byte-for-byte deterministic;
//  - pair encoding, truncation and padding; save and reload; errors; thread safety;
//  - the bridge (libsentencepiece with its protobuf 3.14) and LibTorch (protobuf 3.21) share this process.
#include <gtest/gtest.h>
#include <link.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "stagehand/config.h"
#include "stagehand/error.h"
#include "plugin/loader.h"
#include "stagehand/registry.h"
#include "stagehand/tokenizer.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using stagehand::ConfigNode;
using stagehand::EncodeOptions;
using stagehand::Tokenizer;
using stagehand::TokenizerTrainer;

namespace {

const fs::path kData = STAGEHAND_TEST_DATA;
const fs::path kAlbertModel = kData / "tokenizers" / "albert-30k-clean.model";
const fs::path kParityInput = kData / "tokenizers" / "spm_parity_input.txt";
const fs::path kCorpus = kData / "corpora" / "moby_dick_excerpt.txt";

std::vector<std::string> read_lines(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << file;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string read_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

template <class T, class F>
std::string join(const std::vector<T>& items, F&& format) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? " " : "") + format(items[i]);
  return out;
}

std::string ids_line(const std::vector<stagehand::Piece>& pieces) {
  return join(pieces, [](const stagehand::Piece& p) { return std::to_string(p.id); });
}
std::string pieces_line(const std::vector<stagehand::Piece>& pieces) {
  return join(pieces, [](const stagehand::Piece& p) { return p.token; });
}

bool have_program(const char* name) {
  return std::system(fmt::format("command -v {} >/dev/null 2>&1", name).c_str()) == 0;
}

// Shared objects mapped into this process whose file name contains `part`.
std::vector<std::string> mapped_objects(const std::string& part) {
  std::pair<std::string, std::vector<std::string>> data{part, {}};
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* d) -> int {
        auto* out = static_cast<std::pair<std::string, std::vector<std::string>>*>(d);
        const std::string name = info->dlpi_name != nullptr ? info->dlpi_name : "";
        if (name.find(out->first) != std::string::npos) out->second.push_back(name);
        return 0;
      },
      &data);
  return data.second;
}

class SentencePiece : public ::testing::Test {
 protected:
  void SetUp() override {
    loader_ = std::make_unique<stagehand::PluginLoader>(registry_);
    const fs::path plugin = fs::path(STAGEHAND_PLUGIN_DIR) / "tokenizer_sentencepiece.so";
    const auto* loaded = loader_->load(plugin);
    std::string why;
    for (const auto& r : loader_->refused()) why += r.file.string() + ": " + r.reason + "\n";
    ASSERT_NE(loaded, nullptr) << "plugin " << plugin << " did not load (is libsentencepiece-dev installed and "
                               << "target tokenizer_sentencepiece built?)\n" << why;
    ctx_.registry = &registry_;
  }

  std::shared_ptr<Tokenizer> tokenizer(const fs::path& model, const std::string& more = "") const {
    const auto spec = stagehand::parse_yaml(
        fmt::format("{{type: sentencepiece, model: '{}'{}}}", model.string(), more.empty() ? "" : ", " + more),
        "test");
    return registry_.create<Tokenizer>(spec, ctx_);
  }
  std::shared_ptr<Tokenizer> albert(const std::string& more = "") const { return tokenizer(kAlbertModel, more); }

  std::shared_ptr<TokenizerTrainer> trainer(const std::string& options) const {
    const auto spec = stagehand::parse_yaml(
        fmt::format("{{type: sentencepiece{}}}", options.empty() ? "" : ", " + options), "test");
    return registry_.create<TokenizerTrainer>(spec, ctx_);
  }

  // Trains into tmp_/name and returns the tokenizer spec with the model path made absolute.
  ConfigNode train(const std::string& name, const std::string& options) const {
    const fs::path out = tmp_ / name;
    ConfigNode spec = trainer(options)->train({kCorpus}, out, [] { return false; });
    EXPECT_EQ(spec.at("type").as_string(), "sentencepiece");
    EXPECT_EQ(spec.at("model").as_string(), "spm.model");
    spec.set("model", ConfigNode::of((out / spec.at("model").as_string()).string()));
    return spec;
  }

  // Encodes the parity lines with spm_encode and `model`, and compares ids and pieces with the plugin's.
  void expect_spm_encode_parity(const Tokenizer& tok, const fs::path& model) const {
    for (const char* format : {"id", "piece"}) {
      const fs::path expected_file = tmp_ / fmt::format("expected.{}", format);
      const std::string command = fmt::format("spm_encode --model='{}' --output_format={} < '{}' > '{}'",
                                              model.string(), format, kParityInput.string(),
                                              expected_file.string());
      ASSERT_EQ(std::system(command.c_str()), 0) << command;
      expect_lines_match(tok, read_lines(expected_file), std::string(format) == "id");
    }
  }

  static void expect_lines_match(const Tokenizer& tok, const std::vector<std::string>& expected, bool ids) {
    const auto input = read_lines(kParityInput);
    ASSERT_EQ(input.size(), expected.size());
    ASSERT_GE(input.size(), 300u);
    size_t mismatches = 0;
    for (size_t i = 0; i < input.size(); ++i) {
      const auto pieces = tok.pieces(input[i]);
      const std::string got = ids ? ids_line(pieces) : pieces_line(pieces);
      if (got != expected[i] && ++mismatches <= 5) {
        ADD_FAILURE() << "line " << i + 1 << ": '" << input[i] << "'\n  spm_encode: " << expected[i]
                      << "\n  plugin:     " << got;
      }
    }
    EXPECT_EQ(mismatches, 0u) << "of " << input.size() << " lines";
  }

  stagehand::Registry registry_;
  std::unique_ptr<stagehand::PluginLoader> loader_;
  stagehand::BuildContext ctx_;
  sh_test::TempFolder folder_;  // this test's own, removed after it
  const fs::path tmp_ = folder_.path();
};

// ---------------------------------------------------------------- registration and the bridge

TEST_F(SentencePiece, RegistersTokenizerAndTrainer) {
  const auto* tok = registry_.find("tokenizer", "sentencepiece");
  const auto* tr = registry_.find("tokenizer_trainer", "sentencepiece");
  ASSERT_NE(tok, nullptr);
  ASSERT_NE(tr, nullptr);
  EXPECT_NE(tok->schema->find("model"), nullptr);
  EXPECT_NE(tr->schema->find("vocab_size"), nullptr);
  // The bridge lives in a subfolder, out of reach of the loader's `*.so` scan of the plugin folder.
  EXPECT_TRUE(fs::is_regular_file(fs::path(STAGEHAND_PLUGIN_DIR) / "sentencepiece" / "libstagehand_spm_bridge.so"));
  EXPECT_FALSE(fs::exists(fs::path(STAGEHAND_PLUGIN_DIR) / "libstagehand_spm_bridge.so"));
}

// LibTorch links the system protobuf 3.21 and libsentencepiece carries protobuf 3.14: linked into one
// object they crash before main. Through the DEEPBIND bridge both live in this process.
TEST_F(SentencePiece, CoexistsWithLibTorchInOneProcess) {
  EXPECT_FALSE(mapped_objects("libtorch_cpu").empty()) << "the test links the core, which links LibTorch";
  EXPECT_FALSE(mapped_objects("libprotobuf.so.32").empty());

  const ConfigNode spec = train("coexist", "vocab_size: 1000");
  const auto tok = registry_.create<Tokenizer>(spec, ctx_);
  EXPECT_FALSE(mapped_objects("libsentencepiece.so").empty());
  EXPECT_FALSE(mapped_objects("libtorch_cpu").empty());

  const auto ids = tok->encode_ids("Call me Ishmael.");
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(tok->decode(ids), "Call me Ishmael.");
}

// ---------------------------------------------------------------- ALBERT parity with spm_encode

TEST_F(SentencePiece, AlbertIdsMatchSpmEncode) {
  const auto tok = albert();
  expect_lines_match(*tok, read_lines(kData / "tokenizers" / "albert-30k-clean.ids.txt"), true);
}

TEST_F(SentencePiece, AlbertPiecesMatchSpmEncode) {
  const auto tok = albert();
  expect_lines_match(*tok, read_lines(kData / "tokenizers" / "albert-30k-clean.pieces.txt"), false);
}

TEST_F(SentencePiece, AlbertLiveSpmEncodeParity) {
  if (!have_program("spm_encode")) GTEST_SKIP() << "spm_encode not installed (Debian package 'sentencepiece')";
  expect_spm_encode_parity(*albert(), kAlbertModel);
}

TEST_F(SentencePiece, AlbertVocabularyAndSpecialTokens) {
  const auto tok = albert();
  EXPECT_EQ(tok->vocab_size(), 30000);
  const auto& sp = tok->special();
  EXPECT_EQ(sp.pad, 0);
  EXPECT_EQ(sp.unk, 1);
  EXPECT_EQ(sp.cls, 2);
  EXPECT_EQ(sp.sep, 3);
  EXPECT_EQ(sp.mask, 4);
  EXPECT_EQ(sp.cls_token, "[CLS]");
  EXPECT_EQ(sp.pad_token, "<pad>");
  EXPECT_EQ(tok->id_to_token(2), "[CLS]");
  EXPECT_EQ(tok->token_to_id("[SEP]"), 3);
  EXPECT_EQ(tok->token_to_id("no-such-piece-anywhere"), 1);
  EXPECT_THROW(tok->id_to_token(30000), stagehand::Error);
  EXPECT_THROW(tok->id_to_token(-1), stagehand::Error);

  // A special token the vocabulary lacks reads as -1, not as <unk>.
  const auto other = albert("mask_token: '<mask>', cls_token: '<s>'");
  EXPECT_EQ(other->special().mask, -1);
  EXPECT_EQ(other->special().cls, -1);
  EXPECT_EQ(other->special().unk, 1);
}

TEST_F(SentencePiece, OffsetsAndWordIndices) {
  const auto tok = albert();
  const std::string text = "the  quick\tbrown café, 日本";
  const auto pieces = tok->pieces(text);
  ASSERT_FALSE(pieces.empty());
  int32_t last_end = 0, last_word = -1;
  std::string words;
  for (const auto& p : pieces) {
    EXPECT_LE(last_end, p.begin) << p.token;
    EXPECT_LE(p.begin, p.end) << p.token;
    EXPECT_LE(p.end, static_cast<int32_t>(text.size()));
    EXPECT_GE(p.word, last_word);
    EXPECT_LE(p.word, last_word + 1);
    // A piece starting with U+2581 opens a word, and its span starts at the text, not the space before it.
    const bool opens = p.token.rfind("\xE2\x96\x81", 0) == 0;
    EXPECT_EQ(p.word == last_word + 1, opens || last_word < 0) << p.token;
    if (p.end > p.begin) {
      EXPECT_NE(text[p.begin], ' ') << p.token;
      EXPECT_NE(text[p.begin], '\t') << p.token;
    }
    last_end = p.end;
    last_word = p.word;
  }
  EXPECT_EQ(pieces.front().word, 0);
  EXPECT_EQ(pieces.back().word, 4);  // the, quick, brown, café, 日本
  EXPECT_EQ(text.substr(pieces.front().begin, pieces.front().end - pieces.front().begin), "the");
  EXPECT_EQ(pieces.back().end, static_cast<int32_t>(text.size()));
}

TEST_F(SentencePiece, LowercaseOptionKeepsOffsets) {
  const auto plain = albert();
  const auto lower = albert("lowercase: true");
  const std::string upper_text = "THE Whale ÉTÉ Ωμέγα ПРИВЕТ";
  const std::string lower_text = "the whale été ωμέγα привет";
  ASSERT_EQ(upper_text.size(), lower_text.size());
  const auto a = lower->pieces(upper_text);
  const auto b = plain->pieces(lower_text);
  EXPECT_EQ(ids_line(a), ids_line(b));
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].begin, b[i].begin);
    EXPECT_EQ(a[i].end, b[i].end);
  }
  EXPECT_NE(ids_line(plain->pieces(upper_text)), ids_line(a));
}

TEST_F(SentencePiece, DecodeRoundTripSkipsSpecialTokens) {
  const auto tok = albert();
  const std::string text = "the quick brown fox jumps over the lazy dog.";
  auto ids = tok->encode_ids(text);
  EXPECT_EQ(tok->decode(ids), text);
  const auto& sp = tok->special();
  ids.insert(ids.begin(), sp.cls);
  ids.push_back(sp.sep);
  ids.push_back(sp.pad);
  EXPECT_EQ(tok->decode(ids), text);
  EXPECT_THROW(tok->decode({5, 30000}), stagehand::Error);
}

// ---------------------------------------------------------------- pair encoding (core) on top of the plugin

TEST_F(SentencePiece, PairEncodingTruncationAndPadding) {
  const auto tok = albert();
  const std::string a = "the cat sat on the mat";
  const std::string b = "a dog barked at the cat loudly";
  const auto pa = tok->encode_ids(a), pb = tok->encode_ids(b);
  const auto& sp = tok->special();

  EncodeOptions o;
  o.max_length = 0;
  auto e = tok->encode_pair(a, b, o);
  ASSERT_EQ(e.size(), pa.size() + pb.size() + 3);
  EXPECT_EQ(e.ids.front(), sp.cls);
  EXPECT_EQ(e.ids[pa.size() + 1], sp.sep);
  EXPECT_EQ(e.ids.back(), sp.sep);
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_EQ(e.ids[1 + i], pa[i]);
  for (size_t i = 0; i < pb.size(); ++i) EXPECT_EQ(e.ids[pa.size() + 2 + i], pb[i]);
  for (size_t i = 0; i < e.size(); ++i) {
    EXPECT_EQ(e.type_ids[i], i <= pa.size() + 1 ? 0 : 1) << i;
    const bool special = i == 0 || i == pa.size() + 1 || i + 1 == e.size();
    EXPECT_EQ(e.special_tokens_mask[i], special ? 1 : 0) << i;
    EXPECT_EQ(e.sequence_ids[i], special ? -1 : (i <= pa.size() ? 0 : 1)) << i;
  }
  EXPECT_EQ(e.truncated, 0);

  // Longest-first truncation to 10, then padding to 10 changes nothing more.
  o.max_length = 10;
  o.padding = stagehand::Padding::MaxLength;
  e = tok->encode_pair(a, b, o);
  ASSERT_EQ(e.size(), 10u);
  EXPECT_EQ(e.length(), 10u);
  EXPECT_EQ(e.truncated, static_cast<int32_t>(pa.size() + pb.size() + 3 - 10));
  EXPECT_EQ(e.ids.front(), sp.cls);
  EXPECT_EQ(e.ids.back(), sp.sep);

  // Padding a short pair to 32 with <pad> (id 0) and a zero attention mask.
  o.max_length = 32;
  e = tok->encode_pair("hello", "world", o);
  ASSERT_EQ(e.size(), 32u);
  const size_t real = tok->encode_ids("hello").size() + tok->encode_ids("world").size() + 3;
  EXPECT_EQ(e.length(), real);
  for (size_t i = real; i < e.size(); ++i) {
    EXPECT_EQ(e.ids[i], sp.pad);
    EXPECT_EQ(e.attention_mask[i], 0);
  }
}

// ---------------------------------------------------------------- save and reload

TEST_F(SentencePiece, SaveCopiesTheModelAndRebuilds) {
  const auto tok = albert("lowercase: true");
  const fs::path dir = tmp_ / "saved";
  ConfigNode spec = tok->save(dir);
  EXPECT_EQ(spec.at("type").as_string(), "sentencepiece");
  EXPECT_EQ(spec.at("model").as_string(), "albert-30k-clean.model");
  EXPECT_TRUE(spec.at("lowercase").as_bool());
  EXPECT_EQ(read_bytes(dir / "albert-30k-clean.model"), read_bytes(kAlbertModel));

  spec.set("model", ConfigNode::of((dir / spec.at("model").as_string()).string()));
  const auto again = registry_.create<Tokenizer>(spec, ctx_);
  const std::string text = "Saving And Loading Keeps Every Piece.";
  EXPECT_EQ(ids_line(again->pieces(text)), ids_line(tok->pieces(text)));
  EXPECT_EQ(again->special().cls, tok->special().cls);
}

// ---------------------------------------------------------------- errors

TEST_F(SentencePiece, MissingModelIsAnError) {
  try {
    albert();  // warm up: the bridge loads fine
    tokenizer(tmp_ / "nope.model");
    FAIL() << "expected stagehand::Error";
  } catch (const stagehand::Error& e) {
    EXPECT_NE(std::string(e.what()).find("nope.model"), std::string::npos) << e.what();
  }
}

TEST_F(SentencePiece, BrokenModelIsAnError) {
  const fs::path bad = tmp_ / "broken.model";
  std::ofstream(bad) << "this is not a ModelProto\n";
  try {
    tokenizer(bad);
    FAIL() << "expected stagehand::Error";
  } catch (const stagehand::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("broken.model"), std::string::npos) << what;
    EXPECT_NE(what.find("failed to load"), std::string::npos) << what;
  }
}

TEST_F(SentencePiece, TrainerErrors) {
  EXPECT_THROW(trainer("")->train({tmp_ / "missing.txt"}, tmp_ / "o1", [] { return false; }), stagehand::Error);
  EXPECT_THROW(trainer("")->train({}, tmp_ / "o2", [] { return false; }), stagehand::Error);
  // SentencePiece's own checks come back as stagehand errors with its message.
  try {
    trainer("vocab_size: 500000")->train({kCorpus}, tmp_ / "o3", [] { return false; });
    FAIL() << "expected stagehand::Error";
  } catch (const stagehand::Error& e) {
    EXPECT_NE(std::string(e.what()).find("ocabulary size"), std::string::npos) << e.what();
  }
  try {
    trainer("extra: {no_such_flag: 1}")->train({kCorpus}, tmp_ / "o4", [] { return false; });
    FAIL() << "expected stagehand::Error";
  } catch (const stagehand::Error& e) {
    EXPECT_NE(std::string(e.what()).find("no_such_flag"), std::string::npos) << e.what();
  }
  EXPECT_THROW(trainer("user_defined_symbols: ['a,b']")->train({kCorpus}, tmp_ / "o5", [] { return false; }),
               stagehand::Error);
}

TEST_F(SentencePiece, TrainingStopsWhenAsked) {
  std::atomic<int> polls{0};
  EXPECT_THROW(trainer("vocab_size: 1000")->train({kCorpus}, tmp_ / "stopped", [&] { return ++polls > 0; }),
               stagehand::Interrupted);
  EXPECT_GT(polls.load(), 0);
  EXPECT_FALSE(fs::exists(tmp_ / "stopped" / "spm.model"));
}

// ---------------------------------------------------------------- training

TEST_F(SentencePiece, TrainedModelsHaveTheSpecialTokens) {
  for (const char* type : {"unigram", "bpe"}) {
    SCOPED_TRACE(type);
    const ConfigNode spec = train(type, fmt::format("model_type: {}, vocab_size: 2000", type));
    EXPECT_TRUE(fs::is_regular_file(tmp_ / type / "spm.vocab"));
    const auto tok = registry_.create<Tokenizer>(spec, ctx_);
    EXPECT_EQ(tok->vocab_size(), 2000);
    const auto& sp = tok->special();
    EXPECT_EQ(sp.pad, 0);
    EXPECT_EQ(sp.unk, 1);
    EXPECT_EQ(sp.cls, 2);
    EXPECT_EQ(sp.sep, 3);
    EXPECT_EQ(sp.mask, 4);
    EXPECT_EQ(tok->id_to_token(0), "<pad>");
    EXPECT_EQ(tok->id_to_token(1), "<unk>");

    const auto e = tok->encode_pair("Call me Ishmael.", "Some years ago.", EncodeOptions{});
    EXPECT_EQ(e.ids.front(), sp.cls);
    EXPECT_EQ(e.ids.back(), sp.sep);
    // User-defined [CLS]/[SEP] are not control pieces, so decode must drop them itself.
    EXPECT_EQ(tok->decode(e.ids), "Call me Ishmael. Some years ago.");
  }
}

TEST_F(SentencePiece, TrainingIsDeterministic) {
  for (const char* type : {"unigram", "bpe"}) {
    SCOPED_TRACE(type);
    const std::string options = fmt::format("model_type: {}, vocab_size: 2000", type);
    train(std::string(type) + "_1", options);
    train(std::string(type) + "_2", options);
    const std::string m1 = read_bytes(tmp_ / (std::string(type) + "_1") / "spm.model");
    ASSERT_FALSE(m1.empty());
    EXPECT_TRUE(m1 == read_bytes(tmp_ / (std::string(type) + "_2") / "spm.model")) << "spm.model differs";
    EXPECT_EQ(read_bytes(tmp_ / (std::string(type) + "_1") / "spm.vocab"),
              read_bytes(tmp_ / (std::string(type) + "_2") / "spm.vocab"));
    // Nothing about the output folder ends up in the model.
    EXPECT_EQ(m1.find(tmp_.string()), std::string::npos);
  }
  // Several threads: still identical run after run (the result depends on the thread count, not on timing).
  train("threads_1", "vocab_size: 2000, num_threads: 3");
  train("threads_2", "vocab_size: 2000, num_threads: 3");
  EXPECT_TRUE(read_bytes(tmp_ / "threads_1" / "spm.model") == read_bytes(tmp_ / "threads_2" / "spm.model"));
}

TEST_F(SentencePiece, TrainedModelsMatchSpmEncode) {
  if (!have_program("spm_encode")) GTEST_SKIP() << "spm_encode not installed (Debian package 'sentencepiece')";
  for (const char* type : {"unigram", "bpe"}) {
    SCOPED_TRACE(type);
    const ConfigNode spec = train(type, fmt::format("model_type: {}, vocab_size: 2000", type));
    const auto tok = registry_.create<Tokenizer>(spec, ctx_);
    expect_spm_encode_parity(*tok, spec.at("model").as_string());
  }
}

// The plugin reads the corpus itself (not through --input); the vocabulary must still be spm_train's.
TEST_F(SentencePiece, TrainedVocabularyMatchesSpmTrain) {
  if (!have_program("spm_train")) GTEST_SKIP() << "spm_train not installed (Debian package 'sentencepiece')";
  for (const char* type : {"unigram", "bpe"}) {
    SCOPED_TRACE(type);
    train(type, fmt::format("model_type: {}, vocab_size: 2000, character_coverage: 0.9995", type));
    const fs::path prefix = tmp_ / fmt::format("cli_{}", type);
    const std::string command = fmt::format(
        "spm_train --input='{}' --model_prefix='{}' --model_type={} --vocab_size=2000 --character_coverage=0.9995 "
        "--input_sentence_size=0 --shuffle_input_sentence=true --user_defined_symbols='[CLS],[SEP],[MASK]' "
        "--pad_id=0 --unk_id=1 --bos_id=-1 --eos_id=-1 --pad_piece='<pad>' --unk_piece='<unk>' --num_threads=1 "
        "--minloglevel=2 > /dev/null 2>&1",
        kCorpus.string(), prefix.string(), type);
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
    EXPECT_EQ(read_bytes(tmp_ / type / "spm.vocab"), read_bytes(prefix.string() + ".vocab"));
  }
}

TEST_F(SentencePiece, LowercaseTrainingLowercasesTheVocabulary) {
  const ConfigNode spec = train("lower", "vocab_size: 1000, lowercase: true");
  EXPECT_TRUE(spec.at("lowercase").as_bool());
  const auto tok = registry_.create<Tokenizer>(spec, ctx_);
  EXPECT_EQ(ids_line(tok->pieces("CALL ME ISHMAEL")), ids_line(tok->pieces("call me ishmael")));
  std::istringstream vocab(read_bytes(tmp_ / "lower" / "spm.vocab"));
  for (std::string line; std::getline(vocab, line);) {
    const std::string piece = line.substr(0, line.find('\t'));
    if (piece == "[CLS]" || piece == "[SEP]" || piece == "[MASK]") continue;
    for (char c : piece) EXPECT_FALSE(c >= 'A' && c <= 'Z') << piece;
  }
}

// ---------------------------------------------------------------- threads

TEST_F(SentencePiece, EncodesFromManyThreads) {
  const auto tok = albert();
  const auto lines = read_lines(kParityInput);
  std::vector<std::string> expected;
  for (const auto& l : lines) expected.push_back(ids_line(tok->pieces(l)));
  std::atomic<int> mismatches{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < 4; ++t) {
    pool.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round) {
        for (size_t i = t; i < lines.size(); i += 2) {
          if (ids_line(tok->pieces(lines[i])) != expected[i]) ++mismatches;
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
