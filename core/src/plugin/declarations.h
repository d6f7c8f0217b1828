// SPDX-License-Identifier: Apache-2.0
#pragma once
// A plugin's declaration file, `<plugin>.so.decl.json` beside it: everything `runner check`, `plugins` and `describe`
// need of the plugin (its C manifest, each component's kind, name, doc, option schema, provides, example), so that
// they can run without opening the plugin, and so without loading LibTorch. The build writes it
// (`runner-full declare`, a POST_BUILD step of stagehand_add_plugin) from the plugin's own registration; it names the
// plugin's sha256, and a file whose plugin has another sha256 is not used (the runner then opens the plugins).
// Host-internal.
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "plugin/loader.h"
#include "stagehand/export.h"
#include "stagehand/registry.h"

namespace stagehand {

/// Thrown where a command working from declaration files needs a plugin's code: a component to build (a tokenizer
/// whose vocabulary size planning reads), a fact function that no facts companion provides, a plugin without an
/// up-to-date declaration file. The light runner then hands the command to runner-full.
class STAGEHAND_API NeedsPluginCode : public std::runtime_error {
 public:
  explicit NeedsPluginCode(const std::string& why);
  ~NeedsPluginCode() override;
};

/// What the build says of a plugin beside its registration.
struct DeclarationOptions {
  bool light = false;                   ///< links no LibTorch: the light runner opens it as code
  std::filesystem::path facts;          ///< its facts companion (torch-free), or empty
};

/// The declaration file of `plugin` (`<plugin>.decl.json`).
STAGEHAND_API std::filesystem::path declaration_file(const std::filesystem::path& plugin);

/// Writes the declaration file of a plugin loaded as code (its record and the components it registered), atomically.
STAGEHAND_API void write_declarations(const LoadedPlugin& plugin, const Registry& registry,
                                      const DeclarationOptions& options);

/// A declaration file read back.
struct Declarations {
  std::string sha256;
  ManifestFacts manifest;
  std::string name, version;
  bool light = false;
  std::filesystem::path facts;  ///< absolute, or empty
  std::string facts_sha256;
  std::vector<ComponentInfo> components;  ///< no factories, no facts (has_facts says which have them)
  std::vector<bool> has_facts;
};

/// Reads `file`; throws NeedsPluginCode when it is unreadable or of another format.
STAGEHAND_API Declarations read_declarations(const std::filesystem::path& file);

}  // namespace stagehand
