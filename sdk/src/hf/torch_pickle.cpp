// SPDX-License-Identifier: Apache-2.0
// A pickle reader for the subset `torch.save(state_dict)` writes (see torch_pickle.h). The pickle machine: a stack
// of values, a mark stack, a memo; values are shared (a dict put in the memo and filled later by SETITEMS is the
// same dict). Opcodes of protocols 2-4 that a state dict can contain are handled; globals are limited to the
// classes below and are never imported or called, only recognised.
#include "stagehand/sdk/torch_pickle.h"

#include <cstring>
#include <fstream>
#include <memory>
#include <variant>
#include <vector>

#include <caffe2/serialize/inline_container.h>
#include <torch/torch.h>

#include <stagehand/error.h>

namespace stagehand::hf {
namespace {

namespace fs = std::filesystem;
using torch::Tensor;

struct Value;
using ValuePtr = std::shared_ptr<Value>;

/// A class named by GLOBAL / STACK_GLOBAL.
struct Global {
  std::string module, name;
  std::string full() const { return module + "." + name; }
};

struct Storage {
  Tensor bytes;  ///< the record, as a 1-D tensor of its dtype
};

struct Value {
  struct None {};
  struct Tuple {
    std::vector<ValuePtr> items;
  };
  struct List {
    std::vector<ValuePtr> items;
  };
  struct Dict {
    std::vector<std::pair<ValuePtr, ValuePtr>> items;
  };
  std::variant<None, bool, int64_t, double, std::string, Tuple, List, Dict, Global, Storage, Tensor> v;

  template <class T>
  static ValuePtr make(T x) {
    auto p = std::make_shared<Value>();
    p->v = std::move(x);
    return p;
  }
  template <class T>
  bool is() const { return std::holds_alternative<T>(v); }
};

const char* kind_name(const Value& x) {
  static const char* names[] = {"None", "bool", "int", "float", "str", "tuple", "list", "dict", "class", "storage",
                                "tensor"};
  return names[x.v.index()];
}

torch::Dtype storage_dtype(const Global& g, const std::string& where) {
  static const std::map<std::string, torch::Dtype> types = {
      {"FloatStorage", torch::kFloat},     {"HalfStorage", torch::kHalf},   {"BFloat16Storage", torch::kBFloat16},
      {"DoubleStorage", torch::kDouble},   {"LongStorage", torch::kLong},   {"IntStorage", torch::kInt},
      {"ShortStorage", torch::kShort},     {"CharStorage", torch::kChar},   {"ByteStorage", torch::kByte},
      {"BoolStorage", torch::kBool}};
  auto it = types.find(g.name);
  SH_CHECK(g.module == "torch" && it != types.end(),
           "{}: storage type '{}' is not supported; expected torch.FloatStorage, HalfStorage, BFloat16Storage, "
           "DoubleStorage, LongStorage, IntStorage, ShortStorage, CharStorage, ByteStorage or BoolStorage",
           where, g.full());
  return it->second;
}

class Unpickler {
 public:
  Unpickler(const std::string& file, caffe2::serialize::PyTorchStreamReader& zip, const char* data, size_t size)
      : file_(file), zip_(zip), p_(reinterpret_cast<const uint8_t*>(data)), end_(p_ + size), begin_(p_) {}

  ValuePtr run() {
    while (true) {
      const size_t at = static_cast<size_t>(p_ - begin_);
      const uint8_t op = u8();
      switch (op) {
        case 0x80: u8(); break;                                  // PROTO
        case 0x95: bytes(8); break;                              // FRAME (a length hint)
        case '.': {                                              // STOP
          SH_CHECK(stack_.size() == 1, "{}: data.pkl ends with {} values on the stack; expected one", file_,
                   stack_.size());
          return stack_.back();
        }
        case '(': marks_.push_back(stack_.size()); break;        // MARK
        case 'N': push(Value::make(Value::None{})); break;
        case 0x88: push(Value::make(true)); break;               // NEWTRUE
        case 0x89: push(Value::make(false)); break;              // NEWFALSE
        case 'J': push(Value::make(static_cast<int64_t>(le<int32_t>()))); break;   // BININT
        case 'K': push(Value::make(static_cast<int64_t>(u8()))); break;             // BININT1
        case 'M': push(Value::make(static_cast<int64_t>(le<uint16_t>()))); break;   // BININT2
        case 0x8a: push(Value::make(long1())); break;            // LONG1
        case 'G': {                                              // BINFLOAT: big-endian double
          uint64_t bits = 0;
          for (int i = 0; i < 8; ++i) bits = (bits << 8) | u8();
          double d;
          std::memcpy(&d, &bits, 8);
          push(Value::make(d));
          break;
        }
        case 'X': push(Value::make(str(le<uint32_t>()))); break;  // BINUNICODE
        case 0x8c: push(Value::make(str(u8()))); break;           // SHORT_BINUNICODE
        case 0x8d: push(Value::make(str(checked_size(le<uint64_t>())))); break;  // BINUNICODE8
        case 'U': push(Value::make(str(u8()))); break;            // SHORT_BINSTRING
        case 'T': push(Value::make(str(le<uint32_t>()))); break;  // BINSTRING
        case ')': push(Value::make(Value::Tuple{})); break;       // EMPTY_TUPLE
        case ']': push(Value::make(Value::List{})); break;        // EMPTY_LIST
        case '}': push(Value::make(Value::Dict{})); break;        // EMPTY_DICT
        case 't': push(Value::make(Value::Tuple{pop_mark()})); break;
        case 0x85: case 0x86: case 0x87: {                        // TUPLE1..3
          const size_t n = op - 0x84u;
          need(n, "TUPLE1-3");
          std::vector<ValuePtr> items(stack_.end() - static_cast<long>(n), stack_.end());
          stack_.resize(stack_.size() - n);
          push(Value::make(Value::Tuple{std::move(items)}));
          break;
        }
        case 'l': push(Value::make(Value::List{pop_mark()})); break;  // LIST
        case 'd': {                                                   // DICT
          auto items = pop_mark();
          Value::Dict d;
          for (size_t i = 0; i + 1 < items.size(); i += 2) d.items.emplace_back(items[i], items[i + 1]);
          push(Value::make(std::move(d)));
          break;
        }
        case 'a': {                                                   // APPEND
          need(2, "APPEND");
          auto x = pop();
          list_of(top(), "APPEND").items.push_back(x);
          break;
        }
        case 'e': {                                                   // APPENDS
          auto items = pop_mark();
          need(1, "APPENDS");
          auto& l = list_of(top(), "APPENDS");
          l.items.insert(l.items.end(), items.begin(), items.end());
          break;
        }
        case 's': {                                                   // SETITEM
          need(3, "SETITEM");
          auto v = pop(), k = pop();
          dict_of(top(), "SETITEM").items.emplace_back(k, v);
          break;
        }
        case 'u': {                                                   // SETITEMS
          auto items = pop_mark();
          need(1, "SETITEMS");
          SH_CHECK(items.size() % 2 == 0, "{}: SETITEMS at byte {} with an odd number of values", file_, at);
          auto& d = dict_of(top(), "SETITEMS");
          for (size_t i = 0; i < items.size(); i += 2) d.items.emplace_back(items[i], items[i + 1]);
          break;
        }
        case 'q': memo_put(u8()); break;                              // BINPUT
        case 'r': memo_put(le<uint32_t>()); break;                    // LONG_BINPUT
        case 0x94: memo_put(memo_.size()); break;                     // MEMOIZE
        case 'h': push(memo_get(u8(), at)); break;                    // BINGET
        case 'j': push(memo_get(le<uint32_t>(), at)); break;          // LONG_BINGET
        case 'c': {                                                   // GLOBAL: "module\nname\n"
          std::string module = line(), name = line();
          push(Value::make(Global{module, name}));
          break;
        }
        case 0x93: {                                                  // STACK_GLOBAL
          need(2, "STACK_GLOBAL");
          auto name = pop(), module = pop();
          SH_CHECK(module->is<std::string>() && name->is<std::string>(), "{}: STACK_GLOBAL at byte {} without two "
                   "strings", file_, at);
          push(Value::make(Global{std::get<std::string>(module->v), std::get<std::string>(name->v)}));
          break;
        }
        case 'Q': {                                                   // BINPERSID
          need(1, "BINPERSID");
          push(persistent_load(pop(), at));
          break;
        }
        case 'R': {                                                   // REDUCE
          need(2, "REDUCE");
          auto args = pop(), callable = pop();
          push(reduce(*callable, *args, at));
          break;
        }
        case 'b': {                                                   // BUILD: an object's state
          need(2, "BUILD");
          pop();  // an OrderedDict's `_metadata` (module versions) or a tensor's empty state: not needed
          break;
        }
        default:
          fail("{}: data.pkl uses pickle opcode 0x{:02x} at byte {}, which a torch.save state dict does "
                   "not contain; is this a state dict (a mapping of names to tensors)?", file_, op, at);
      }
    }
  }

 private:
  // ---- reading
  uint8_t u8() {
    SH_CHECK(p_ < end_, "{}: data.pkl ends early (byte {}); the file is truncated", file_, p_ - begin_);
    return *p_++;
  }
  const uint8_t* bytes(size_t n) {
    SH_CHECK(static_cast<size_t>(end_ - p_) >= n, "{}: data.pkl ends early (byte {}, {} more bytes expected); the "
             "file is truncated", file_, p_ - begin_, n);
    const uint8_t* at = p_;
    p_ += n;
    return at;
  }
  template <class T>
  T le() {  // little-endian, as pickle stores its binary ints (this reader runs on little-endian machines)
    T x;
    std::memcpy(&x, bytes(sizeof(T)), sizeof(T));
    return x;
  }
  size_t checked_size(uint64_t n) {
    SH_CHECK(n <= static_cast<uint64_t>(end_ - p_), "{}: a string of {} bytes at byte {} runs past the end", file_,
             n, p_ - begin_);
    return static_cast<size_t>(n);
  }
  std::string str(size_t n) {
    const uint8_t* b = bytes(n);
    return std::string(reinterpret_cast<const char*>(b), n);
  }
  std::string line() {
    const uint8_t* nl = static_cast<const uint8_t*>(std::memchr(p_, '\n', static_cast<size_t>(end_ - p_)));
    SH_CHECK(nl != nullptr, "{}: GLOBAL without its newline at byte {}", file_, p_ - begin_);
    std::string s(reinterpret_cast<const char*>(p_), static_cast<size_t>(nl - p_));
    p_ = nl + 1;
    return s;
  }
  int64_t long1() {
    const uint8_t n = u8();
    SH_CHECK(n <= 8, "{}: an integer of {} bytes at byte {}; only 64-bit integers are expected", file_, n,
             p_ - begin_);
    const uint8_t* b = bytes(n);
    uint64_t x = 0;
    for (int i = n - 1; i >= 0; --i) x = (x << 8) | b[i];
    if (n > 0 && n < 8 && (b[n - 1] & 0x80)) x |= ~uint64_t{0} << (8 * n);  // sign-extend
    return static_cast<int64_t>(x);
  }

  // ---- the machine
  void push(ValuePtr x) { stack_.push_back(std::move(x)); }
  void need(size_t n, const char* op) {
    SH_CHECK(stack_.size() >= n, "{}: {} at byte {} with too few values on the stack; the pickle is malformed", file_,
             op, p_ - begin_);
  }
  ValuePtr pop() {
    ValuePtr x = stack_.back();
    stack_.pop_back();
    return x;
  }
  ValuePtr& top() { return stack_.back(); }
  std::vector<ValuePtr> pop_mark() {
    SH_CHECK(!marks_.empty(), "{}: a MARK is missing before byte {}; the pickle is malformed", file_, p_ - begin_);
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<ValuePtr> items(stack_.begin() + static_cast<long>(m), stack_.end());
    stack_.resize(m);
    return items;
  }
  void memo_put(size_t key) {
    SH_CHECK(!stack_.empty(), "{}: PUT on an empty stack at byte {}", file_, p_ - begin_);
    memo_[key] = stack_.back();
  }
  ValuePtr memo_get(size_t key, size_t at) {
    auto it = memo_.find(key);
    SH_CHECK(it != memo_.end(), "{}: GET of memo entry {} at byte {}, which was never put", file_, key, at);
    return it->second;
  }
  Value::Dict& dict_of(ValuePtr& x, const char* op) {
    SH_CHECK(x->is<Value::Dict>(), "{}: {} on a {} (byte {}); expected a dict", file_, op, kind_name(*x),
             p_ - begin_);
    return std::get<Value::Dict>(x->v);
  }
  Value::List& list_of(ValuePtr& x, const char* op) {
    SH_CHECK(x->is<Value::List>(), "{}: {} on a {} (byte {}); expected a list", file_, op, kind_name(*x),
             p_ - begin_);
    return std::get<Value::List>(x->v);
  }

  // ('storage', torch.FloatStorage, key, location, numel): the record data/<key>, loaded once per key.
  ValuePtr persistent_load(const ValuePtr& pid, size_t at) {
    const auto* t = std::get_if<Value::Tuple>(&pid->v);
    SH_CHECK(t && t->items.size() == 5 && t->items[0]->is<std::string>() &&
                 std::get<std::string>(t->items[0]->v) == "storage" && t->items[1]->is<Global>() &&
                 t->items[2]->is<std::string>() && t->items[4]->is<int64_t>(),
             "{}: a persistent id at byte {} is not ('storage', type, key, location, numel)", file_, at);
    const std::string key = std::get<std::string>(t->items[2]->v);
    auto cached = storages_.find(key);
    if (cached != storages_.end()) return cached->second;
    const torch::Dtype dtype = storage_dtype(std::get<Global>(t->items[1]->v), file_);
    const int64_t numel = std::get<int64_t>(t->items[4]->v);
    const std::string record = "data/" + key;
    SH_CHECK(zip_.hasRecord(record), "{}: the archive has no record '{}' for a storage", file_, record);
    auto [ptr, size] = zip_.getRecord(record);
    const size_t want = static_cast<size_t>(numel) * torch::elementSize(dtype);
    SH_CHECK(size == want, "{}: storage record '{}' holds {} bytes; {} elements of {} need {}", file_, record, size,
             numel, c10::toString(dtype), want);
    Tensor data = torch::empty({numel}, torch::TensorOptions().dtype(dtype));
    if (want) std::memcpy(data.data_ptr(), ptr.get(), want);
    auto v = Value::make(Storage{data});
    storages_[key] = v;
    return v;
  }

  static std::vector<int64_t> ints(const Value& x, const char* what, const std::string& where) {
    const auto* t = std::get_if<Value::Tuple>(&x.v);
    SH_CHECK(t, "{}: {} is a {}; expected a tuple of ints", where, what, kind_name(x));
    std::vector<int64_t> out;
    for (const auto& i : t->items) {
      SH_CHECK(i->is<int64_t>(), "{}: {} holds a {}; expected ints", where, what, kind_name(*i));
      out.push_back(std::get<int64_t>(i->v));
    }
    return out;
  }

  ValuePtr reduce(const Value& callable, const Value& args, size_t at) {
    SH_CHECK(callable.is<Global>(), "{}: REDUCE at byte {} calls a {}; expected a class", file_, at,
             kind_name(callable));
    const Global& g = std::get<Global>(callable.v);
    const auto* a = std::get_if<Value::Tuple>(&args.v);
    SH_CHECK(a, "{}: REDUCE of {} at byte {} with a {} for arguments; expected a tuple", file_, g.full(), at,
             kind_name(args));
    const std::string fn = g.full();
    if (fn == "collections.OrderedDict") return Value::make(Value::Dict{});
    if (fn == "torch._utils._rebuild_tensor_v2" || fn == "torch._utils._rebuild_tensor") {
      // (storage, storage_offset, size, stride[, requires_grad, backward_hooks[, metadata]])
      SH_CHECK(a->items.size() >= 4 && a->items[0]->is<Storage>() && a->items[1]->is<int64_t>(),
               "{}: {} at byte {} without (storage, offset, size, stride)", file_, fn, at);
      const Tensor& storage = std::get<Storage>(a->items[0]->v).bytes;
      const int64_t offset = std::get<int64_t>(a->items[1]->v);
      const auto size = ints(*a->items[2], "a tensor's size", file_), stride = ints(*a->items[3], "a tensor's "
                                                                                                    "stride", file_);
      SH_CHECK(size.size() == stride.size(), "{}: a tensor at byte {} has {} sizes but {} strides", file_, at,
               size.size(), stride.size());
      int64_t last = offset;  // the last element the view reaches
      bool empty = false;
      for (size_t i = 0; i < size.size(); ++i) {
        SH_CHECK(size[i] >= 0 && stride[i] >= 0, "{}: a tensor at byte {} has a negative size or stride", file_, at);
        if (size[i] == 0) empty = true;
        last += (size[i] - 1) * stride[i];
      }
      SH_CHECK(offset >= 0 && (empty || last < storage.numel()),
               "{}: a tensor at byte {} (offset {}, size [{}], stride [{}]) reaches past its storage of {} elements",
               file_, at, offset, fmt::join(size, ", "), fmt::join(stride, ", "), storage.numel());
      if (empty) return Value::make(torch::empty(size, storage.options()));
      return Value::make(storage.as_strided(size, stride, offset).contiguous().clone());
    }
    if (fn == "torch._utils._rebuild_parameter" || fn == "torch._utils._rebuild_parameter_with_state") {
      SH_CHECK(!a->items.empty() && a->items[0]->is<Tensor>(), "{}: {} at byte {} without a tensor", file_, fn, at);
      return a->items[0];
    }
    fail("{}: data.pkl builds a '{}' (byte {}); a state dict holds only tensors (collections.OrderedDict, "
             "torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter). Save the model's state_dict(), or "
             "convert it to model.safetensors",
             file_, fn, at);
  }

  std::string file_;
  caffe2::serialize::PyTorchStreamReader& zip_;
  const uint8_t* p_;
  const uint8_t* end_;
  const uint8_t* begin_;
  std::vector<ValuePtr> stack_;
  std::vector<size_t> marks_;
  std::map<size_t, ValuePtr> memo_;
  std::map<std::string, ValuePtr> storages_;
};

}  // namespace

std::map<std::string, Tensor> load_torch_state_dict(const fs::path& file) {
  const std::string where = file.string();
  {
    std::ifstream in(file, std::ios::binary);
    SH_CHECK(in, "{}: cannot be opened", where);
    char magic[4] = {0, 0, 0, 0};
    in.read(magic, 4);
    SH_CHECK(in.gcount() == 4 && std::memcmp(magic, "PK\x03\x04", 4) == 0,
             "{}: not a zip archive; expected the file torch.save writes since PyTorch 1.6 (the legacy format of "
             "older versions is not read: re-save it with torch.save(model.state_dict(), path), or convert it to "
             "model.safetensors)",
             where);
  }
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> zip;
  std::string pickle;
  try {
    zip = std::make_unique<caffe2::serialize::PyTorchStreamReader>(file.string());
    SH_CHECK(zip->hasRecord("data.pkl"), "{}: the archive has no data.pkl; is it a torch.save file?", where);
    auto [ptr, size] = zip->getRecord("data.pkl");
    pickle.assign(static_cast<const char*>(ptr.get()), size);
  } catch (const c10::Error& e) {
    throw Error(fmt::format("{}: not a readable torch.save archive ({})", where, e.what_without_backtrace()));
  }
  ValuePtr root;
  try {
    root = Unpickler(where, *zip, pickle.data(), pickle.size()).run();
  } catch (const c10::Error& e) {
    throw Error(fmt::format("{}: a storage record cannot be read ({})", where, e.what_without_backtrace()));
  }
  const auto* dict = std::get_if<Value::Dict>(&root->v);
  SH_CHECK(dict, "{}: data.pkl holds a {}; expected a state dict (names to tensors)", where, kind_name(*root));
  std::map<std::string, Tensor> out;
  for (const auto& [k, v] : dict->items) {
    SH_CHECK(k->is<std::string>(), "{}: the state dict has a {} key; expected names", where, kind_name(*k));
    const std::string& name = std::get<std::string>(k->v);
    SH_CHECK(v->is<Tensor>(), "{}: '{}' is a {}; a state dict maps names to tensors", where, name, kind_name(*v));
    out[name] = std::get<Tensor>(v->v);
  }
  return out;
}

}  // namespace stagehand::hf
