#ifndef HEAPKIT_TOOLS_HEAPKIT_SVG_H_
#define HEAPKIT_TOOLS_HEAPKIT_SVG_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace heapkit::cli {

// One allocator's result in a comparison chart.
struct ChartRow {
  std::string allocator;  // e.g. "tlsf", "glibc"
  double ns_per_op = 0;   // mean nanoseconds per operation
  double footprint = 0;   // peak footprint / peak live bytes; 0 = unknown
  // smallest region that completes / peak live bytes; 0 = unknown
  double min_region_ratio = 0;
};

// Returns an SVG document (a standalone file, UTF-8, with xmlns) drawing three
// horizontal bar charts one under the other: ns per operation, footprint, and
// smallest region, one bar per row, each bar labelled with the allocator name
// and its value (e.g. "12.3 ns", "1.04x"); rows whose value is 0 (unknown)
// show the label and "n/a" and no bar. `title` heads the picture.
std::string ComparisonChartSvg(std::string_view title,
                               const std::vector<ChartRow>& rows);

// A live block in a heap map: its offset from the region's start and size.
struct MapBlock {
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
};

// Returns an SVG document drawing a region of `region_size` bytes as a strip
// wrapped into rows (about 64 rows at most, each row the same number of
// bytes), free space in light grey, each used block as one
// `<rect class="used" .../>` per row piece it covers (a block crossing a row
// boundary is split into several rects, all class="used-cont" except the
// first, which is class="used"; so the number of class="used" rects equals
// blocks.size()). Blocks thinner than a pixel are still drawn at least 0.5 px
// wide so they stay visible. Includes a legend and, under the title, a text
// line with the region size, the used bytes, the number of blocks and the
// highest used offset. `blocks` may be unsorted; blocks reaching past
// region_size are clipped to it.
std::string HeapMapSvg(std::string_view title, std::uint64_t region_size,
                       const std::vector<MapBlock>& blocks);

}  // namespace heapkit::cli

#endif  // HEAPKIT_TOOLS_HEAPKIT_SVG_H_
