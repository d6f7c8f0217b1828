// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Line plots as SVG text (the probe stage's "metric against layer" figure, the HTML report's curves): one panel
/// per metric, one line (with point markers) per series, shared legend. Plain SVG 1.1 text: opens in any browser,
/// needs no library.
#include <stagehand/sdk/export.h>

#include <string>
#include <utility>
#include <vector>

namespace stagehand::plot {

struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;  ///< (x, y), drawn in the given order
};

struct Panel {
  std::string title;    ///< e.g. "F1"
  std::string x_label;  ///< e.g. "layer"
  std::string y_label;
  std::vector<Series> series;
  bool integer_x = true;  ///< ticks at every integer x (layers)
};

/// The SVG document of the panels side by side, under `title`. Y axes span [0, 100] when every value lies there
/// and `percent` is set, else a padded range around the values.
STAGEHAND_SDK_API std::string line_plot_svg(const std::string& title, const std::vector<Panel>& panels, bool percent);

}  // namespace stagehand::plot
