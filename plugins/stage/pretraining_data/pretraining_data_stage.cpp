// SPDX-License-Identifier: Apache-2.0
// Stage kind `pretraining_data`: ELECTRA's build_pretraining_dataset.py. Text files (one sentence a line, blank
// lines between documents) are tokenized and packed into pre-training examples by ExampleBuilder
// (example_builder.h, the original's rules), and written to one fixed-row binary file, `examples.bin`
// (stagehand/sdk/pretraining_format.h), that the `pretraining` dataset memory-maps. The stage
// provides that dataset, and a self-contained copy of its tokenizer.
//
// The reading loop is the original's write_examples: per file, each line is read as TensorFlow's GFile reads it
// (every carriage return dropped, reference_line) and stripped (Python's str.strip()); with blanks_separate_docs
// every line goes to the builder, otherwise only non-empty ones; after the last line of each file the builder gets
// one empty line (which ends a non-empty example: documents never span files).
// tests/data/pretraining/electra_examples.json holds what the original code makes of four files (its tokenizer
// lower-casing and stripping accents), draw by draw; the tests replay those draws and compare every example.
// One difference: the original shuffles its (per-process) file list with `random`; files are taken here in the
// order given (globs sorted), so the order is visible in the pipeline and independent of the seed.
//
// Validation split: with validation_fraction f > 0, k = round(1 / f) and example n (0-based, in the order the
// builder emits them) goes to 'validation' when n % k == k - 1 — examples k-1, 2k-1, ... (so the share is exactly
// 1/k of the examples, e.g. f = 0.05: every 20th). This is a pure function of the example stream; a long document
// spans several consecutive examples, so validation text neighbours training text (as in ELECTRA, whose
// evaluation data is a separate corpus).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <exception>
#include <fstream>
#include <thread>

#include <stagehand/plugin.h>
#include <stagehand/stage.h>
#include <stagehand/tokenizer.h>
#include <stagehand/files.h>
#include <stagehand/utf8.h>

#include <stagehand/sdk/pretraining_format.h>

#include "example_builder.h"

namespace stagehand {
namespace {
namespace fs = std::filesystem;
using pretraining::Example;
using pretraining::FileHeader;

// A write-only file with a buffer, written with POSIX calls so that it can be fsynced before the rename.
class RawFile {
 public:
  explicit RawFile(fs::path path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0644);
    SH_CHECK(fd_ >= 0, "cannot create '{}' ({}); check that the stage folder is writable and not full",
             path_.string(), std::strerror(errno));
    buffer_.reserve(kBufferBytes);
  }
  ~RawFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawFile(const RawFile&) = delete;
  RawFile& operator=(const RawFile&) = delete;

  void write(const void* data, size_t n) {
    const auto* p = static_cast<const char*>(data);
    if (buffer_.size() + n > kBufferBytes) flush();
    if (n >= kBufferBytes) {
      write_all(p, n);
      return;
    }
    buffer_.insert(buffer_.end(), p, p + n);
  }
  void flush() {
    write_all(buffer_.data(), buffer_.size());
    buffer_.clear();
  }
  // Overwrites bytes at `offset` (after a flush): used for the header once the counts and CRC are known.
  void write_at(uint64_t offset, const std::string& bytes) {
    flush();
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t w = ::pwrite(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
      if (w < 0 && errno == EINTR) continue;
      SH_CHECK(w > 0, "cannot write '{}' ({}); check free disk space", path_.string(), std::strerror(errno));
      done += static_cast<size_t>(w);
    }
  }
  void sync_and_close() {
    flush();
    SH_CHECK(::fsync(fd_) == 0, "cannot fsync '{}' ({})", path_.string(), std::strerror(errno));
    SH_CHECK(::close(fd_) == 0, "cannot close '{}' ({})", path_.string(), std::strerror(errno));
    fd_ = -1;
  }
  const fs::path& path() const { return path_; }

 private:
  static constexpr size_t kBufferBytes = size_t{1} << 20;
  void write_all(const char* p, size_t n) {
    while (n > 0) {
      ssize_t w = ::write(fd_, p, n);
      if (w < 0 && errno == EINTR) continue;
      SH_CHECK(w > 0, "cannot write '{}' ({}); check free disk space", path_.string(), std::strerror(errno));
      p += w;
      n -= static_cast<size_t>(w);
    }
  }
  fs::path path_;
  int fd_ = -1;
  std::vector<char> buffer_;
};

// Encodes examples into fixed rows (see pretraining_format.h) and keeps the running CRC of what it wrote.
class RowEncoder {
 public:
  RowEncoder(uint32_t max_length, uint32_t id_bytes, int32_t pad_id)
      : max_length_(max_length), id_bytes_(id_bytes), pad_(pad_id), row_(max_length * id_bytes + 4) {}

  const std::vector<unsigned char>& encode(const Example& e) {
    for (uint32_t i = 0; i < max_length_; ++i) {
      const int32_t id = i < e.ids.size() ? e.ids[i] : pad_;
      unsigned char* p = row_.data() + static_cast<size_t>(i) * id_bytes_;
      if (id_bytes_ == 2)
        pretraining::put_u16(p, static_cast<uint16_t>(id));
      else
        pretraining::put_u32(p, static_cast<uint32_t>(id));
    }
    unsigned char* tail = row_.data() + static_cast<size_t>(max_length_) * id_bytes_;
    pretraining::put_u16(tail, static_cast<uint16_t>(e.ids.size()));
    pretraining::put_u16(tail + 2, static_cast<uint16_t>(e.a_length));
    return row_;
  }

 private:
  uint32_t max_length_, id_bytes_;
  int32_t pad_;
  std::vector<unsigned char> row_;
};

// Tokenizes the stripped lines of a chunk on `threads` threads (lines[i] -> ids[i]); the result does not
// depend on the thread count.
void tokenize_chunk(const Tokenizer& tok, const std::vector<std::string>& lines, std::vector<std::vector<int32_t>>& ids,
                    int threads) {
  ids.assign(lines.size(), {});
  constexpr size_t kGrain = 128;
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t begin = next.fetch_add(kGrain); begin < lines.size(); begin = next.fetch_add(kGrain)) {
      const size_t end = std::min(lines.size(), begin + kGrain);
      for (size_t i = begin; i < end; ++i)
        if (!lines[i].empty()) ids[i] = tok.encode_ids(lines[i]);
    }
  };
  const size_t n = std::min<size_t>(static_cast<size_t>(std::max(threads, 1)), lines.size() / kGrain + 1);
  if (n <= 1) {
    work();
    return;
  }
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(n);
  for (size_t t = 1; t < n; ++t) {
    pool.emplace_back([&, t] {
      try {
        work();
      } catch (...) {
        errors[t] = std::current_exception();
        next.store(lines.size());  // the others stop early
      }
    });
  }
  try {
    work();
  } catch (...) {
    errors[0] = std::current_exception();
    next.store(lines.size());
  }
  for (auto& th : pool) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

class PretrainingDataStage : public Stage {
 public:
  void run(StageContext& ctx) override {
    const Options& o = ctx.options();
    const auto files = o.paths("files");
    const int64_t max_length = o.get<int64_t>("max_length");
    const bool blanks_separate_docs = o.get<bool>("blanks_separate_docs");
    const double validation_fraction = o.get<double>("validation_fraction");
    const int threads = static_cast<int>(o.get<int64_t>("threads"));
    SH_CHECK(!files.empty(), "option 'files' matches no file; give text files (one sentence a line, globs allowed)");

    auto tok = ctx.build<Tokenizer>("tokenizer");
    const SpecialTokens& sp = tok->special();
    SH_CHECK(sp.cls >= 0 && sp.sep >= 0 && sp.pad >= 0,
             "the tokenizer lacks '{}', '{}' or '{}' (ids {}, {}, {}), which every example needs; use a tokenizer "
             "whose vocabulary has them or set its cls_token/sep_token/pad_token",
             sp.cls_token, sp.sep_token, sp.pad_token, sp.cls, sp.sep, sp.pad);
    // examples.bin stores ELECTRA's framing (segment ids from a_length); another layout would need its own.
    SH_CHECK(sp.layout == SpecialLayout::Bert,
             "the tokenizer's special-token layout is '{}', but pretraining_data writes ELECTRA's `{} A {} B {}` "
             "examples with segment ids 0 then 1 (BERT's framing, the only one examples.bin stores); expected layout "
             "'bert'; set `layout: bert` on the tokenizer, or use the text_corpus dataset, which frames by the layout",
             sp.layout == SpecialLayout::Roberta ? "roberta" : "none", sp.cls_token, sp.sep_token, sp.sep_token);
    const int32_t vocab_size = tok->vocab_size();
    SH_CHECK(vocab_size > 0, "the tokenizer has an empty vocabulary (vocab_size {}); check its files", vocab_size);

    const fs::path out = ctx.output_dir();
    const fs::path final_file = out / "examples.bin";
    const fs::path tmp_file = out / "examples.bin.tmp";
    const fs::path validation_tmp = out / "examples.validation.tmp";
    // A previous, interrupted attempt may have left partial files: start over (packing is cheap to redo and
    // a fresh pass keeps the random stream identical to an uninterrupted run).
    std::error_code ec;
    fs::remove(final_file, ec);
    fs::remove(tmp_file, ec);
    fs::remove(validation_tmp, ec);

    // A self-contained copy of the tokenizer next to the examples; its spec goes into the header.
    const fs::path saved = out / "tokenizer";
    fs::remove_all(saved, ec);
    fs::create_directories(saved);
    ConfigNode tok_spec = tok->save(saved);
    if (tok_spec.is_map()) {
      for (auto& [k, v] : tok_spec.entries()) {
        if (v.is_scalar() && v.quoted() && !v.text().empty() && fs::exists(saved / v.text()))
          v = ConfigNode::of((fs::path("tokenizer") / v.text()).string());
      }
    }

    FileHeader h;
    h.max_length = static_cast<uint32_t>(max_length);
    h.id_bytes = vocab_size <= 65536 ? 2 : 4;  // every id < vocab_size fits in uint16
    h.row_bytes = h.max_length * h.id_bytes + 4;
    h.vocab_size = vocab_size;
    h.pad_id = sp.pad;
    h.cls_id = sp.cls;
    h.sep_id = sp.sep;
    h.mask_id = sp.mask;
    h.unk_id = sp.unk;
    h.tokenizer_spec = to_yaml(tok_spec);
    h.header_bytes = h.computed_header_bytes();

    const uint64_t every = validation_fraction > 0 ? static_cast<uint64_t>(std::llround(1.0 / validation_fraction)) : 0;
    RawFile train_out(tmp_file);
    train_out.write(pretraining::encode_header(h).data(), h.header_bytes);  // placeholder, rewritten at the end
    std::unique_ptr<RawFile> validation_out;
    if (every > 0) validation_out = std::make_unique<RawFile>(validation_tmp);

    RowEncoder encoder(h.max_length, h.id_bytes, sp.pad);
    uint32_t train_crc = 0;
    uint64_t n_examples = 0, n_tokens = 0, n_single = 0, n_train = 0, n_validation = 0;
    const uint32_t id_limit = h.id_bytes == 2 ? 65536u : 0x7fffffffu;
    auto emit = [&](const Example& e) {
      for (int32_t id : e.ids)
        SH_CHECK(id >= 0 && static_cast<uint32_t>(id) < id_limit && id < vocab_size,
                 "the tokenizer produced id {} outside its vocabulary of {} entries; check the tokenizer's files", id,
                 vocab_size);
      const auto& row = encoder.encode(e);
      if (every > 0 && n_examples % every == every - 1) {
        validation_out->write(row.data(), row.size());
        ++n_validation;
      } else {
        train_out.write(row.data(), row.size());
        train_crc = pretraining::crc32_update(train_crc, row.data(), row.size());
        ++n_train;
      }
      ++n_examples;
      n_tokens += e.ids.size();
      if (e.single_segment()) ++n_single;
    };

    pretraining::Mt19937Random rng(ctx.seed());
    pretraining::ExampleBuilder builder(static_cast<int32_t>(max_length), sp.cls, sp.sep, rng);

    uint64_t total_bytes = 0;
    for (const auto& f : files) {
      std::error_code sec;
      const auto sz = fs::file_size(f, sec);
      SH_CHECK(!sec, "cannot read '{}' ({}); check that the file exists and is readable", f.string(), sec.message());
      total_bytes += sz;
    }
    auto progress = ctx.progress("packing examples", static_cast<int64_t>(total_bytes));
    uint64_t bytes_done = 0;
    constexpr size_t kChunkLines = 16384;
    std::vector<std::string> lines;
    std::vector<std::vector<int32_t>> ids;
    Example example;
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      SH_CHECK(in.good(), "cannot read '{}'; check that the file exists and is readable", f.string());
      std::string raw;
      int64_t line_no = 0;
      bool eof = false;
      while (!eof) {
        if (ctx.stop_requested()) throw Interrupted(ctx.stop_signal());
        lines.clear();
        while (lines.size() < kChunkLines) {
          if (!std::getline(in, raw)) {
            eof = true;
            break;
          }
          bytes_done += raw.size() + 1;
          ++line_no;
          if (std::string p = utf8_problem(raw); !p.empty())
            throw Error(fmt::format("{}:{}: the line is {}", f.string(), line_no, p));
          std::string_view stripped = pretraining::reference_line(raw);
          if (!stripped.empty() || blanks_separate_docs) lines.emplace_back(stripped);
        }
        SH_CHECK(!in.bad(), "error while reading '{}'; check the file", f.string());
        tokenize_chunk(*tok, lines, ids, threads);
        for (size_t i = 0; i < lines.size(); ++i)
          if (builder.add_line(lines[i].empty(), std::move(ids[i]), example)) emit(example);
        progress->update(static_cast<int64_t>(std::min(bytes_done, total_bytes)),
                         {{"examples", static_cast<double>(n_examples)}});
      }
      // End of file: one empty line, which ends a non-empty example (a document never spans two files).
      if (builder.add_line(true, {}, example)) emit(example);
    }
    progress->finish();
    SH_CHECK(n_train > 0, "the files hold no text ({}{}); give text files, one sentence a line",
             files.front().string(), files.size() > 1 ? fmt::format(" and {} more", files.size() - 1) : "");

    // Validation rows follow the training rows: append them, continuing the CRC.
    uint32_t crc = train_crc;
    if (validation_out) {
      validation_out->sync_and_close();
      validation_out.reset();
      std::ifstream vin(validation_tmp, std::ios::binary);
      SH_CHECK(vin.good(), "cannot read back '{}'", validation_tmp.string());
      std::vector<char> buf(size_t{1} << 20);
      while (vin) {
        vin.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        const auto got = static_cast<size_t>(vin.gcount());
        if (got == 0) break;
        train_out.write(buf.data(), got);
        crc = pretraining::crc32_update(crc, buf.data(), got);
      }
      SH_CHECK(!vin.bad(), "error while reading back '{}'", validation_tmp.string());
      fs::remove(validation_tmp, ec);
    }
    h.train_examples = n_train;
    h.validation_examples = n_validation;
    h.payload_crc32 = crc;
    train_out.write_at(0, pretraining::encode_header(h));
    train_out.sync_and_close();
    // Only a complete file ever carries the final name.
    fs::rename(tmp_file, final_file);
    fsync_dir(out);

    write_file_atomic(out / "tokenizer.yaml", to_yaml(tok_spec));
    ctx.provide("dataset", ConfigNode::map({{"type", ConfigNode::of("pretraining")},
                                            {"file", ConfigNode::of(std::string("examples.bin"))}}));
    ctx.provide("tokenizer", tok_spec);

    const double n = static_cast<double>(n_examples);
    ctx.metric("examples", n);
    ctx.metric("train_examples", static_cast<double>(n_train));
    ctx.metric("validation_examples", static_cast<double>(n_validation));
    ctx.metric("tokens", static_cast<double>(n_tokens));
    ctx.metric("single_segment_fraction", static_cast<double>(n_single) / n);
    ctx.metric("mean_length", static_cast<double>(n_tokens) / n);
    ctx.info(fmt::format("{} examples ({} train, {} validation), {} tokens, mean length {:.1f} of {}, "
                         "{:.1f}% one segment",
                         n_examples, n_train, n_validation, n_tokens, static_cast<double>(n_tokens) / n, max_length,
                         100.0 * static_cast<double>(n_single) / n));
  }
};

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  registrar
      .add<stagehand::Stage>(
          "pretraining_data",
          "ELECTRA's build_pretraining_dataset: pack sentences into [CLS] A [SEP] B [SEP] examples, written to a "
          "memory-mapped file (provides a 'pretraining' dataset)",
          stagehand::Schema()
              .component("tokenizer", "tokenizer", "tokenizer spec, or the name of a tokenizer stage")
              .paths("files", "text files (globs allowed, taken in order): one sentence a line, a blank line between "
                              "documents")
              .opt("max_length", int64_t{128},
                   "tokens per example, [CLS] and [SEP]s included (ELECTRA's --max-seq-length)")
              .min(5)
              .max(65535)
              .opt("blanks_separate_docs", true,
                   "a blank line ends the current example (a document boundary; ELECTRA's --blanks-separate-docs, "
                   "which its argparse type=bool makes true for any value given, 'False' too); false: blank lines "
                   "are skipped and only the end of a file ends an example")
              .opt("validation_fraction", 0.0,
                   "when > 0, every k-th example (k = round(1/fraction); examples k-1, 2k-1, ...) goes to a "
                   "'validation' split")
              .min(0)
              .max(0.5)
              .opt("threads", int64_t{2}, "threads that tokenize (the output does not depend on it)")
              .min(1),
          [](const stagehand::Options&) { return std::make_shared<stagehand::PretrainingDataStage>(); })
      .with_provides({"dataset", "tokenizer"});
}
