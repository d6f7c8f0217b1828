// SPDX-License-Identifier: Apache-2.0
// The shared parts of the SPECTER datasets: paper text, tokenized papers, batch tensors (see paper_text.h; the
// metadata reader is metadata.cpp).
#include "paper_text.h"

#include <algorithm>
#include <exception>
#include <thread>

#include <torch/types.h>

#include <stagehand/error.h>

#include <stagehand/sdk/collate.h>

namespace stagehand::specter {

PaperEncoder::PaperEncoder(std::shared_ptr<Tokenizer> tokenizer, int64_t max_length)
    : tok_(std::move(tokenizer)), max_length_(max_length) {}

std::vector<int32_t> PaperEncoder::encode(const std::string& title, const std::string& abstract,
                                          const std::string& origin) const {
  const SpecialTokens& sp = tok_->special();
  std::vector<int32_t> body = tok_->encode_ids(title);
  const size_t title_pieces = body.size();
  body.push_back(sp.sep);
  for (int32_t id : tok_->encode_ids(abstract)) body.push_back(id);
  SH_CHECK(title_pieces > 0 || body.size() > 1,
           "{} has neither a title nor an abstract (both are missing, null or blank), so it has no text to embed; "
           "give it one or leave the paper out",
           origin);
  const size_t room = static_cast<size_t>(max_length_ - 2);
  if (body.size() > room) body.resize(room);
  std::vector<int32_t> out;
  out.reserve(body.size() + 2);
  out.push_back(sp.cls);
  out.insert(out.end(), body.begin(), body.end());
  out.push_back(sp.sep);
  return out;
}

TokenStore PaperEncoder::encode_all(const std::vector<PaperText>& papers, int threads) const {
  const size_t n = papers.size();
  std::vector<std::vector<int32_t>> ids(n);
  const size_t workers = std::max<size_t>(1, std::min<size_t>(static_cast<size_t>(std::max(threads, 1)), n));
  std::vector<size_t> failed(workers, n);
  std::vector<std::string> messages(workers);
  auto work = [&](size_t w) {
    // Contiguous blocks, so that the first failure of each block is that block's first failing paper.
    const size_t begin = n * w / workers, end = n * (w + 1) / workers;
    for (size_t i = begin; i < end; ++i) {
      try {
        const PaperText& p = papers[i];
        ids[i] = encode(*p.title, *p.abstract, p.origin);
      } catch (const std::exception& e) {
        failed[w] = i;
        messages[w] = e.what();
        return;
      }
    }
  };
  if (workers == 1) {
    work(0);
  } else {
    std::vector<std::thread> pool;
    for (size_t w = 0; w < workers; ++w) pool.emplace_back(work, w);
    for (auto& t : pool) t.join();
  }
  for (size_t w = 0; w < workers; ++w)
    if (failed[w] < n) throw Error(messages[w]);
  TokenStore store;
  size_t total = 0;
  for (const auto& v : ids) total += v.size();
  store.ids.reserve(total);
  store.offsets.reserve(n + 1);
  store.paper_ids.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    store.ids.insert(store.ids.end(), ids[i].begin(), ids[i].end());
    std::vector<int32_t>().swap(ids[i]);
    store.offsets.push_back(static_cast<int64_t>(store.ids.size()));
    store.paper_ids.push_back(papers[i].id);
  }
  return store;
}

std::shared_ptr<Tokenizer> make_tokenizer(const Options& o, const BuildContext& ctx) {
  SH_CHECK(ctx.registry != nullptr, "built without a registry, so its tokenizer cannot be built");
  auto tok = ctx.registry->create<Tokenizer>(o.node("tokenizer"), ctx);
  const SpecialTokens& sp = tok->special();
  for (auto [id, name] : {std::pair<int32_t, const std::string*>{sp.cls, &sp.cls_token},
                          std::pair<int32_t, const std::string*>{sp.sep, &sp.sep_token},
                          std::pair<int32_t, const std::string*>{sp.pad, &sp.pad_token}})
    SH_CHECK(id >= 0,
             "the tokenizer has no '{}' token, which `title [SEP] abstract` inputs and padded batches need; use a "
             "tokenizer whose vocabulary has [CLS], [SEP] and [PAD] (or set its special tokens)",
             *name);
  return tok;
}

void put_texts(Batch& batch, const std::string& prefix, const TokenStore& store, const std::vector<int64_t>& rows,
               int32_t pad_id) {
  const auto bsz = static_cast<int64_t>(rows.size());
  sdk::PaddedTokens tokens(bsz, sdk::longest_row(store.offsets, rows), pad_id);
  for (int64_t b = 0; b < bsz; ++b) {
    const int64_t r = rows[static_cast<size_t>(b)];
    tokens.set_row(b, store.ids.data() + store.offsets[static_cast<size_t>(r)], store.length(r));
  }
  tokens.put(batch, prefix);
}

std::vector<std::pair<std::string, fs::path>> split_files(const Options& o, const std::string& suffix) {
  // One Path option per split (train_<suffix>, validation_<suffix>, test_<suffix>): the core resolves them,
  // checks that they exist and hashes them into the stage's cache key.
  std::vector<std::pair<std::string, fs::path>> out;
  for (const char* split : {"train", "validation", "test"}) {
    const std::string name = fmt::format("{}_{}", split, suffix);
    if (o.has(name)) out.emplace_back(split, o.path(name));
  }
  return out;
}

std::string list_some(const std::vector<std::string>& items, size_t n) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < n; ++i) out += (out.empty() ? "" : ", ") + items[i];
  if (items.size() > n) out += fmt::format(", ... ({} in all)", items.size());
  return out;
}

}  // namespace stagehand::specter
