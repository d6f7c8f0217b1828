// SPDX-License-Identifier: Apache-2.0
#pragma once
/// A plugin's facts companion: a small shared object without LibTorch, built from the plugin's fact code alone
/// (stagehand_add_plugin's FACTS_SOURCES). It gives `runner check` the fact functions of the plugin's components
/// (ComponentInfo::facts) without opening the plugin, so that checking a pipeline does not load LibTorch. Its sources
/// register the same functions the plugin's own registration gives to with_facts():
///
///   #include <stagehand/facts_companion.h>
///   STAGEHAND_PLUGIN_FACTS(registrar) { stagehand::add_facts(registrar, "dataset", "my_data", my_data_facts); }
///
/// A component whose facts no companion provides still works: `runner check` then opens the plugins.
#include <string>
#include <utility>

#include <boost/config.hpp>
#include <boost/dll/alias.hpp>

#include "stagehand/registry.h"

#define STAGEHAND_FACTS_ALIAS "stagehand_facts"

namespace stagehand {

/// In a facts companion: the fact function of component `kind`/`name`.
inline void add_facts(PluginRegistrar& registrar, const std::string& kind, const std::string& name, FactFunction f) {
  ComponentInfo info;
  info.kind = kind;
  info.name = name;
  info.facts = std::move(f);
  registrar.add_entry(std::move(info));
}

}  // namespace stagehand

#define STAGEHAND_PLUGIN_FACTS(REGISTRAR)                                    \
  static void stagehand_facts_impl(::stagehand::PluginRegistrar& REGISTRAR); \
  BOOST_DLL_ALIAS(stagehand_facts_impl, stagehand_facts)                     \
  static void stagehand_facts_impl(::stagehand::PluginRegistrar& REGISTRAR)
