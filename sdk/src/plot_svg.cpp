// SPDX-License-Identifier: Apache-2.0
#include <stagehand/sdk/plot_svg.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace stagehand::plot {
namespace {

// Colour-blind-safe palette (Okabe & Ito).
const char* const kColours[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"};

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

/// A "nice" tick step (1, 2 or 5 times a power of ten) giving about `n` ticks over `span`.
double tick_step(double span, int n) {
  const double raw = span / n;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * mag) return m * mag;
  return 10 * mag;
}

}  // namespace

std::string line_plot_svg(const std::string& title, const std::vector<Panel>& panels, bool percent) {
  const double pw = 420, ph = 300, left = 60, right = 20, top = 50, bottom = 50, legend_h = 24;
  size_t most_series = 0;
  for (const auto& p : panels) most_series = std::max(most_series, p.series.size());
  const double width = std::max<double>(1, static_cast<double>(panels.size())) * pw;
  const double height = ph + legend_h * static_cast<double>(most_series) + 20;
  std::string svg = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{0:.0f}\" height=\"{1:.0f}\" "
      "viewBox=\"0 0 {0:.0f} {1:.0f}\" font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{2:.1f}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{3}</text>\n",
      width, height, width / 2, escape(title));
  for (size_t pi = 0; pi < panels.size(); ++pi) {
    const Panel& p = panels[pi];
    const double x0 = static_cast<double>(pi) * pw + left, x1 = static_cast<double>(pi + 1) * pw - right;
    const double y0 = ph - bottom, y1 = top;  // y0: bottom of the plot area
    double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymin = xmin, ymax = -xmin;
    for (const auto& s : p.series)
      for (const auto& [x, y] : s.points) {
        xmin = std::min(xmin, x), xmax = std::max(xmax, x);
        if (std::isfinite(y)) ymin = std::min(ymin, y), ymax = std::max(ymax, y);
      }
    if (!std::isfinite(xmin)) xmin = 0, xmax = 1;
    if (!std::isfinite(ymin)) ymin = 0, ymax = 1;
    if (xmax == xmin) xmin -= 1, xmax += 1;
    if (percent && ymin >= 0 && ymax <= 100) {
      ymin = 0, ymax = 100;
    } else {
      const double pad = ymax > ymin ? 0.05 * (ymax - ymin) : 1.0;
      ymin -= pad, ymax += pad;
    }
    auto sx = [&](double x) { return x0 + (x - xmin) / (xmax - xmin) * (x1 - x0); };
    auto sy = [&](double y) { return y0 - (y - ymin) / (ymax - ymin) * (y0 - y1); };
    svg += fmt::format("<g class=\"panel\" id=\"panel-{}\">\n", pi);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" font-size=\"13\">{}</text>\n",
                       (x0 + x1) / 2, y1 - 10, escape(p.title));
    // Grid and y ticks.
    const double ystep = tick_step(ymax - ymin, 5);
    for (double t = std::ceil(ymin / ystep) * ystep; t <= ymax + 1e-9; t += ystep) {
      svg += fmt::format(
          "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#dddddd\"/>"
          "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{:g}</text>\n",
          x0, sy(t), x1, sy(t), x0 - 6, sy(t) + 4, std::round(t * 1000) / 1000);
    }
    // X ticks: every integer (layers), or nice steps.
    const double xstep = p.integer_x ? std::max(1.0, std::ceil(tick_step(xmax - xmin, 12))) : tick_step(xmax - xmin, 6);
    for (double t = std::ceil(xmin / xstep) * xstep; t <= xmax + 1e-9; t += xstep)
      svg += fmt::format(
          "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#333333\"/>"
          "<text x=\"{0:.1f}\" y=\"{3:.1f}\" text-anchor=\"middle\">{4:g}</text>\n",
          sx(t), y0, y0 + 5, y0 + 18, t);
    svg += fmt::format(
        "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"none\" stroke=\"#333333\"/>\n", x0,
        y1, x1 - x0, y0 - y1);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", (x0 + x1) / 2, y0 + 36,
                       escape(p.x_label));
    svg += fmt::format(
        "<text x=\"{0:.1f}\" y=\"{1:.1f}\" text-anchor=\"middle\" transform=\"rotate(-90 {0:.1f} {1:.1f})\">{2}</text>\n",
        x0 - 42, (y0 + y1) / 2, escape(p.y_label));
    for (size_t si = 0; si < p.series.size(); ++si) {
      const Series& s = p.series[si];
      const char* colour = kColours[si % (sizeof(kColours) / sizeof(kColours[0]))];
      std::string pts;
      for (const auto& [x, y] : s.points)
        if (std::isfinite(y)) pts += fmt::format("{}{:.1f},{:.1f}", pts.empty() ? "" : " ", sx(x), sy(y));
      svg += fmt::format("<polyline class=\"series\" data-name=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\" "
                         "points=\"{}\"/>\n",
                         escape(s.name), colour, pts);
      for (const auto& [x, y] : s.points)
        if (std::isfinite(y))
          svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>\n", sx(x), sy(y), colour);
    }
    svg += "</g>\n";
  }
  // Legend: the series of the first panel (every panel shows the same encoders).
  if (!panels.empty())
    for (size_t si = 0; si < panels[0].series.size(); ++si) {
      const double y = ph + legend_h * static_cast<double>(si) + 6;
      const char* colour = kColours[si % (sizeof(kColours) / sizeof(kColours[0]))];
      svg += fmt::format(
          "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"{3}\" stroke-width=\"2\"/>"
          "<text x=\"{4:.1f}\" y=\"{5:.1f}\">{6}</text>\n",
          left, y, left + 30, colour, left + 38, y + 4, escape(panels[0].series[si].name));
    }
  svg += "</svg>\n";
  return svg;
}

}  // namespace stagehand::plot
