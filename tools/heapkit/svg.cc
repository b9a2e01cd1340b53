#include "tools/heapkit/svg.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fmt/format.h"

namespace heapkit::cli {
namespace {

constexpr double kMargin = 20;
constexpr std::string_view kStyle =
    ".title{font-size:16px;font-weight:bold}.head{font-weight:bold}"
    ".bar{fill:#4a7fc1}.na{fill:#888}.free{fill:#e4e4e4}"
    ".used,.used-cont,.key-used{fill:#d9822b}";

// Comparison chart layout, in pixels.
constexpr double kLabelWidth = 160;  // allocator names end left of this
constexpr double kBarWidth = 420;    // the largest value's bar
constexpr double kValueWidth = 100;  // room for the value after a bar
constexpr double kHeadingHeight = 24;
constexpr double kRowHeight = 22;
constexpr double kBarHeight = 16;
constexpr double kSectionGap = 14;

// Heap map layout, in pixels.
constexpr std::uint64_t kMaxRows = 64;
constexpr double kStripLeft = 90;  // room for the row offsets
constexpr double kStripTop = 64;
constexpr double kStripWidth = 1024;
constexpr double kStripHeight = 10;
constexpr double kStripPitch = 12;

// Returns `text` with the XML special characters replaced by entities.
std::string Escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Appends `format` filled in with `args`, and a newline, to `out`.
template <typename... Args>
void Line(std::string* out, fmt::format_string<Args...> format,
          Args&&... args) {
  fmt::format_to(std::back_inserter(*out), format, std::forward<Args>(args)...);
  out->push_back('\n');
}

// Returns a standalone SVG document of `width` x `height` pixels showing
// `title` above `body`, which must already be markup.
std::string Document(double width, double height, std::string_view title,
                     std::string_view body) {
  std::string out;
  Line(&out, R"(<?xml version="1.0" encoding="UTF-8"?>)");
  Line(&out,
       R"(<svg xmlns="http://www.w3.org/2000/svg" width="{0:g}" )"
       R"(height="{1:g}" viewBox="0 0 {0:g} {1:g}" font-family="sans-serif" )"
       R"(font-size="12">)",
       width, height);
  Line(&out, "<style>{}</style>", kStyle);
  Line(&out, R"(<rect width="100%" height="100%" fill="white"/>)");
  Line(&out, R"(<text class="title" x="{:g}" y="26">{}</text>)", kMargin,
       Escape(title));
  Line(&out, "{}</svg>", body);
  return out;
}

// One of the comparison chart's bar charts: which field, and how to print it.
struct Metric {
  std::string_view heading;
  double ChartRow::*value;
  int precision;
  std::string_view unit;
};

// Returns `value` if it is a usable measurement, else 0 (unknown).
double Known(double value) {
  return std::isfinite(value) && value > 0 ? value : 0;
}

// Returns the bar chart of `metric` over `rows`, its heading at `top`; the
// largest known value's bar is kBarWidth long.
std::string BarSection(const Metric& metric, const std::vector<ChartRow>& rows,
                       double top) {
  double max = 0;
  for (const ChartRow& row : rows) {
    max = std::max(max, Known(row.*metric.value));
  }
  std::string out;
  Line(&out, R"(<text class="head" x="{:g}" y="{:g}">{}</text>)", kMargin,
       top + 16, Escape(metric.heading));
  double y = top + kHeadingHeight;
  for (const ChartRow& row : rows) {
    const double value = Known(row.*metric.value);
    const double text_y = y + kBarHeight - 4;
    Line(&out, R"(<text x="{:g}" y="{:g}" text-anchor="end">{}</text>)",
         kLabelWidth - 8, text_y, Escape(row.allocator));
    if (value == 0) {
      Line(&out, R"(<text class="na" x="{:g}" y="{:g}">n/a</text>)",
           kLabelWidth, text_y);
    } else {
      const double width = std::max(0.5, value / max * kBarWidth);
      Line(&out,
           R"(<rect class="bar" x="{:g}" y="{:g}" width="{:g}" )"
           R"(height="{:g}"/><text x="{:g}" y="{:g}">{:.{}f}{}</text>)",
           kLabelWidth, y, width, kBarHeight, kLabelWidth + width + 6, text_y,
           value, metric.precision, Escape(metric.unit));
    }
    y += kRowHeight;
  }
  return out;
}

}  // namespace

std::string ComparisonChartSvg(std::string_view title,
                               const std::vector<ChartRow>& rows) {
  static constexpr Metric kMetrics[] = {
      {"Time per operation (lower is better)", &ChartRow::ns_per_op, 1, " ns"},
      {"Footprint: peak footprint / peak live bytes", &ChartRow::footprint, 2,
       "x"},
      {"Smallest region that completes / peak live bytes",
       &ChartRow::min_region_ratio, 2, "x"},
  };
  std::string body;
  double top = 40;
  for (const Metric& metric : kMetrics) {
    body += BarSection(metric, rows, top);
    top += kHeadingHeight + rows.size() * kRowHeight + kSectionGap;
  }
  return Document(kLabelWidth + kBarWidth + kValueWidth, top, title, body);
}

std::string HeapMapSvg(std::string_view title, std::uint64_t region_size,
                       const std::vector<MapBlock>& blocks) {
  // Rows hold a power of two bytes each, so their offsets read well in hex.
  const std::uint64_t row_bytes = std::bit_ceil(std::max<std::uint64_t>(
      1, region_size / kMaxRows + (region_size % kMaxRows != 0)));
  const std::uint64_t rows = std::max<std::uint64_t>(
      1, region_size / row_bytes + (region_size % row_bytes != 0));
  const double scale = kStripWidth / row_bytes;  // pixels per byte
  std::string body;
  for (std::uint64_t r = 0; r < rows; ++r) {
    const double y = kStripTop + r * kStripPitch;
    const std::uint64_t bytes =
        std::min(row_bytes, region_size - r * row_bytes);
    Line(&body,
         R"(<rect class="free" x="{:g}" y="{:g}" width="{:g}" height="{:g}"/>)",
         kStripLeft, y, bytes * scale, kStripHeight);
    if (r % 8 == 0) {
      Line(&body,
           R"(<text x="{:g}" y="{:g}" text-anchor="end" font-size="9">)"
           R"({:#x}</text>)",
           kStripLeft - 6, y + 8, r * row_bytes);
    }
  }

  std::vector<MapBlock> sorted = blocks;
  std::sort(
      sorted.begin(), sorted.end(),
      [](const MapBlock& a, const MapBlock& b) { return a.offset < b.offset; });
  std::uint64_t used = 0;
  std::uint64_t high = 0;  // one past the highest used byte
  for (const MapBlock& block : sorted) {
    const std::uint64_t begin = std::min(block.offset, region_size);
    const std::uint64_t end = begin + std::min(block.size, region_size - begin);
    used += end - begin;
    high = std::max(high, end);
    // One rect per row piece; an empty (or clipped away) block still gets one.
    std::string_view kind = "used";
    std::uint64_t pos = begin;
    do {
      const std::uint64_t row = std::min(pos / row_bytes, rows - 1);
      const std::uint64_t piece_end = std::min(end, (row + 1) * row_bytes);
      const double width = std::max(0.5, (piece_end - pos) * scale);
      const double x = std::min(kStripLeft + (pos - row * row_bytes) * scale,
                                kStripLeft + kStripWidth - width);
      Line(&body,
           R"(<rect class="{}" x="{:g}" y="{:g}" width="{:g}" height="{:g}"/>)",
           kind, x, kStripTop + row * kStripPitch, width, kStripHeight);
      kind = "used-cont";
      pos = piece_end;
    } while (pos < end);
  }

  Line(&body,
       R"(<text x="{:g}" y="48">{} bytes, {} used ({:.1f}%) in {} blocks, )"
       R"(used up to offset {}</text>)",
       kMargin, region_size, used,
       region_size == 0 ? 0.0 : 100.0 * used / region_size, blocks.size(),
       high);
  const double legend_y = kStripTop + rows * kStripPitch + 10;
  Line(&body,
       R"(<rect class="free" x="{0:g}" y="{1:g}" width="12" height="10"/>)"
       R"(<text x="{2:g}" y="{3:g}">free</text>)"
       R"(<rect class="key-used" x="{4:g}" y="{1:g}" width="12" height="10"/>)"
       R"(<text x="{5:g}" y="{3:g}">used block</text>)"
       R"(<text x="{6:g}" y="{3:g}">one row = {7} bytes</text>)",
       kStripLeft, legend_y, kStripLeft + 16, legend_y + 9, kStripLeft + 70,
       kStripLeft + 86, kStripLeft + 180, row_bytes);
  return Document(kStripLeft + kStripWidth + kMargin, legend_y + 30, title,
                  body);
}

}  // namespace heapkit::cli
