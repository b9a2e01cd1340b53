#include "tools/heapkit/svg.h"

#include <cctype>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"

namespace heapkit::cli {
namespace {

bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == ':' || c == '-' ||
         c == '_';
}

// Parses the tag `tag` ("<name a="v" ...>", "</name>" or "<name .../>") into
// its name, and whether it closes or is self-closed; false if malformed.
bool ParseTag(std::string_view tag, std::string& name, bool& closing,
              bool& self_closed) {
  std::size_t i = 1;
  closing = tag.size() > 1 && tag[1] == '/';
  if (closing) ++i;
  const std::size_t name_begin = i;
  while (i < tag.size() && IsNameChar(tag[i])) ++i;
  name = std::string(tag.substr(name_begin, i - name_begin));
  if (name.empty()) return false;
  for (;;) {
    while (i < tag.size() && std::isspace(static_cast<unsigned char>(tag[i]))) {
      ++i;
    }
    if (i >= tag.size()) return false;
    if (tag.substr(i) == ">" || tag.substr(i) == "/>") {
      self_closed = tag[i] == '/';
      return !(closing && self_closed);
    }
    const std::size_t attr_begin = i;  // name="value"
    while (i < tag.size() && IsNameChar(tag[i])) ++i;
    if (i == attr_begin || closing || tag.substr(i, 2) != "=\"") return false;
    const std::size_t value_end = tag.find('"', i + 2);
    if (value_end == std::string_view::npos ||
        tag.substr(i + 2, value_end - i - 2).find('<') !=
            std::string_view::npos) {
      return false;
    }
    i = value_end + 1;
  }
}

// Returns "" if every tag in `svg` is closed or self-closed in order, every
// attribute value is quoted and every '&' starts an entity; else the problem.
std::string WellFormedError(const std::string& svg) {
  std::vector<std::string> open;
  for (std::size_t pos = svg.find('<'); pos != std::string::npos;
       pos = svg.find('<', pos + 1)) {
    if (svg.compare(pos, 2, "<?") == 0) continue;  // the XML declaration
    const std::string tag = svg.substr(pos, svg.find('>', pos) - pos + 1);
    std::string name;
    bool closing = false, self_closed = false;
    if (!ParseTag(tag, name, closing, self_closed)) return "bad tag " + tag;
    if (closing) {
      if (open.empty() || open.back() != name) return "stray " + tag;
      open.pop_back();
    } else if (!self_closed) {
      open.push_back(name);
    }
  }
  if (!open.empty()) return "unclosed <" + open.back();
  for (std::size_t pos = svg.find('&'); pos != std::string::npos;
       pos = svg.find('&', pos + 1)) {
    bool entity = false;
    for (std::string_view known :
         {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"}) {
      entity = entity || svg.compare(pos, known.size(), known) == 0;
    }
    if (!entity) return "bare &";
  }
  return "";
}

// Returns how often `needle` occurs in `haystack`.
int Count(std::string_view haystack, std::string_view needle) {
  int n = 0;
  for (std::size_t pos = haystack.find(needle); pos != haystack.npos;
       pos = haystack.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

// Returns attribute `attr` of each `<rect class="css" .../>`, in order.
std::vector<double> RectAttr(const std::string& svg, std::string_view css,
                             std::string_view attr) {
  const std::string rect = "<rect class=\"" + std::string(css) + "\"";
  const std::string value = " " + std::string(attr) + "=\"";
  std::vector<double> out;
  for (std::size_t pos = svg.find(rect); pos != std::string::npos;
       pos = svg.find(rect, pos + 1)) {
    const std::string tag = svg.substr(pos, svg.find('>', pos) - pos);
    const std::size_t at = tag.find(value);
    if (at != std::string::npos)
      out.push_back(std::stod(tag.substr(at + value.size())));
  }
  return out;
}

TEST(WellFormedErrorTest, CatchesBrokenMarkup) {
  EXPECT_EQ(WellFormedError(R"(<a x="1"><b/>t &amp; u</a>)"), "");
  EXPECT_NE(WellFormedError("<a><b></a></b>"), "");
  EXPECT_NE(WellFormedError("<a><b>"), "");
  EXPECT_NE(WellFormedError("<a x=1/>"), "");
  EXPECT_NE(WellFormedError("<a>&</a>"), "");
}

TEST(ComparisonChartSvgTest, IsAStandaloneWellFormedDocument) {
  const std::string svg = ComparisonChartSvg("Bench", {{"tlsf", 10, 1.1, 2}});
  EXPECT_EQ(svg.rfind(R"(<?xml version="1.0" encoding="UTF-8"?>)", 0), 0u);
  EXPECT_NE(svg.find(R"(xmlns="http://www.w3.org/2000/svg")"), svg.npos);
  EXPECT_NE(svg.find(">Bench</text>"), svg.npos);
  EXPECT_EQ(WellFormedError(svg), "");
}

TEST(ComparisonChartSvgTest, OneBarPerKnownValueAndNaForUnknownOnes) {
  const std::string svg = ComparisonChartSvg(
      "t", {{"tlsf", 12.34, 1.04, 1.5}, {"glibc", 24.68, 0, 3}, {"none"}});
  EXPECT_EQ(Count(svg, R"(class="bar")"), 2 + 1 + 2);
  EXPECT_EQ(Count(svg, ">n/a<"), 1 + 2 + 1);
  for (const char* name : {">tlsf<", ">glibc<", ">none<"}) {
    EXPECT_EQ(Count(svg, name), 3) << name;
  }
  for (const char* value :
       {">12.3 ns<", ">24.7 ns<", ">1.04x<", ">1.50x<", ">3.00x<"}) {
    EXPECT_EQ(Count(svg, value), 1) << value;
  }
  // Bars scale with the value: tlsf's are half as long as glibc's.
  const std::vector<double> widths = RectAttr(svg, "bar", "width");
  ASSERT_EQ(widths.size(), 5u);
  EXPECT_DOUBLE_EQ(widths[0], widths[1] / 2);
  EXPECT_DOUBLE_EQ(widths[3], widths[4] / 2);
  EXPECT_DOUBLE_EQ(widths[1], widths[2]);  // each section's longest bar
  EXPECT_EQ(WellFormedError(svg), "");
}

TEST(ComparisonChartSvgTest, EscapesTitleAndNames) {
  const std::string svg =
      ComparisonChartSvg("A<&>\"B'", {{"x<y&z\">'", 1, 1, 1}});
  EXPECT_NE(svg.find("A&lt;&amp;&gt;&quot;B&apos;"), svg.npos);
  EXPECT_EQ(Count(svg, "x&lt;y&amp;z&quot;&gt;&apos;"), 3);
  EXPECT_EQ(svg.find("x<y"), svg.npos);
  EXPECT_EQ(svg.find("A<&"), svg.npos);
  EXPECT_EQ(WellFormedError(svg), "");
}

TEST(ComparisonChartSvgTest, NoRowsGivesAValidDocument) {
  const std::string svg = ComparisonChartSvg("empty", {});
  EXPECT_EQ(Count(svg, R"(class="bar")"), 0);
  EXPECT_EQ(WellFormedError(svg), "");
}

TEST(HeapMapSvgTest, DrawsOneUsedRectPerBlock) {
  const std::string svg = HeapMapSvg(
      "map <1>", 4096, {{1024, 100}, {0, 16}, {4000, 96}, {2000, 1}});
  EXPECT_EQ(Count(svg, R"(class="used")"), 4);
  EXPECT_NE(svg.find("map &lt;1&gt;"), svg.npos);
  EXPECT_NE(svg.find("4096 bytes, 213 used (5.2%) in 4 blocks, used up to "
                     "offset 4096"),
            svg.npos);
  EXPECT_EQ(WellFormedError(svg), "");
}

TEST(HeapMapSvgTest, WrapsIntoAtMost64EqualRows) {
  for (const std::uint64_t size : {1u, 100u, 4096u, 1'000'000u, 1u << 30}) {
    const std::string svg = HeapMapSvg("m", size, {});
    const int rows = Count(svg, R"(class="free")") - 1;  // minus the legend's
    EXPECT_GE(rows, 1) << size;
    EXPECT_LE(rows, 64) << size;
    EXPECT_TRUE(size < 64 || rows > 32) << size;
  }
}

TEST(HeapMapSvgTest, BlockCrossingRowsIsSplitIntoContinuations) {
  // 4096 bytes make 64 rows of 64 bytes; [32, 160) touches rows 0, 1 and 2.
  const std::string svg = HeapMapSvg("m", 4096, {{32, 128}});
  EXPECT_EQ(Count(svg, R"(class="used")"), 1);
  EXPECT_EQ(Count(svg, R"(class="used-cont")"), 2);
  const std::vector<double> first = RectAttr(svg, "used", "width");
  const std::vector<double> rest = RectAttr(svg, "used-cont", "width");
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_DOUBLE_EQ(first[0], rest[0] / 2);  // half a row, then a full row
  EXPECT_DOUBLE_EQ(rest[1], rest[0] / 2);
  EXPECT_LT(RectAttr(svg, "used", "y")[0], RectAttr(svg, "used-cont", "y")[0]);
  EXPECT_EQ(RectAttr(svg, "used-cont", "x")[0],
            RectAttr(svg, "free", "x")[0]);  // continues at the row start
  EXPECT_EQ(WellFormedError(svg), "");
}

TEST(HeapMapSvgTest, ClipsBlocksToTheRegion) {
  const std::string svg = HeapMapSvg("m", 4096, {{4040, 1000}, {9000, 10}});
  EXPECT_EQ(Count(svg, R"(class="used")"), 2);
  EXPECT_EQ(Count(svg, R"(class="used-cont")"), 0);
  EXPECT_NE(svg.find(" 56 used"), svg.npos);
  // Both land in the last of the 64 rows, [4040, 4096) and a sliver at its end.
  const std::vector<double> free_y = RectAttr(svg, "free", "y");
  ASSERT_EQ(free_y.size(), 64u + 1);  // and the legend's
  EXPECT_EQ(RectAttr(svg, "used", "y"), std::vector<double>(2, free_y[63]));
  const std::vector<double> x = RectAttr(svg, "used", "x");
  const std::vector<double> width = RectAttr(svg, "used", "width");
  const double row_end =
      RectAttr(svg, "free", "x")[63] + RectAttr(svg, "free", "width")[63];
  EXPECT_DOUBLE_EQ(x[0] + width[0], row_end);
  EXPECT_DOUBLE_EQ(x[1] + width[1], row_end);
  EXPECT_EQ(WellFormedError(svg), "");
}

TEST(HeapMapSvgTest, TinyBlocksStayVisible) {
  const std::string svg = HeapMapSvg("m", 1u << 30, {{1 << 20, 1}, {0, 0}});
  EXPECT_EQ(RectAttr(svg, "used", "width"), (std::vector<double>{0.5, 0.5}));
}

TEST(HeapMapSvgTest, NoBlocksGivesAValidDocument) {
  for (const std::uint64_t size : {0u, 4096u}) {
    const std::string svg = HeapMapSvg("empty", size, {});
    EXPECT_EQ(Count(svg, R"(class="used)"), 0);
    EXPECT_NE(svg.find(" 0 used (0.0%) in 0 blocks"), svg.npos);
    EXPECT_EQ(WellFormedError(svg), "");
  }
}

}  // namespace
}  // namespace heapkit::cli
