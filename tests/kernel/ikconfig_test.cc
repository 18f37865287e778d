// sys config: the in-kernel configuration blob (kernel/configs.c: "IKCFG_ST", a gzip
// stream of .config, "IKCFG_ED") decoded by kernel::decode_ikconfig on synthesized bytes.
#include <zlib.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kernel/sysinfo.h"

namespace coroner::kernel {
namespace {

std::vector<uint8_t> gzip(const std::string& text) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::vector<uint8_t> out(deflateBound(&z, text.size()) + 64);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::vector<uint8_t> bytes_of(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

std::vector<uint8_t> blob(const std::vector<uint8_t>& gz, bool end_marker = true) {
  std::string b = "IKCFG_ST" + std::string(gz.begin(), gz.end()) + (end_marker ? "IKCFG_ED" : "");
  return bytes_of(b);
}

const std::string kConfig =
    "#\n# Automatically generated file; DO NOT EDIT.\n# Linux/x86 6.1.0 Kernel Configuration\n#\n"
    "CONFIG_64BIT=y\nCONFIG_X86_64=y\nCONFIG_HZ_250=y\nCONFIG_HZ=250\n# CONFIG_IKCONFIG_PROC is not set\n";

TEST(Ikconfig, DecodesTheGzippedConfig) {
  auto text = decode_ikconfig(blob(gzip(kConfig)));
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_EQ(*text, kConfig);
}

TEST(Ikconfig, LargeConfigAcrossManyChunks) {
  std::string big;
  for (int i = 0; i < 20000; ++i) big += "CONFIG_OPTION_" + std::to_string(i) + "=m\n";
  auto text = decode_ikconfig(blob(gzip(big)));
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_EQ(*text, big);
}

TEST(Ikconfig, MissingMarkerIsAnError) {
  auto gz = gzip(kConfig);
  auto text = decode_ikconfig(gz);
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.error().message.find("IKCFG_ST"), std::string::npos);
}

TEST(Ikconfig, TruncatedStreamIsAnError) {
  auto gz = gzip(kConfig);
  gz.resize(gz.size() / 2);
  auto text = decode_ikconfig(blob(gz, false));
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.error().message.find("truncated"), std::string::npos);
}

TEST(Ikconfig, CorruptStreamIsAnError) {
  auto gz = gzip(kConfig);
  for (size_t i = 10; i < gz.size(); i += 3) gz[i] ^= 0x5a;
  auto text = decode_ikconfig(blob(gz));
  EXPECT_FALSE(text.ok());
}

TEST(Ikconfig, LinesAsCrashPrintsThem) {
  // Blank lines and leading white space vanish (sscanf's "\n" skips all white space); a
  // line longer than 511 characters is split.
  std::string long_line(600, 'x');
  auto lines = ikconfig_lines("#\n# General setup\n#\n\n\nCONFIG_A=y\n   CONFIG_B=m\n" + long_line + "\n");
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_EQ(lines[0], "#");
  EXPECT_EQ(lines[1], "# General setup");
  EXPECT_EQ(lines[3], "CONFIG_A=y");
  EXPECT_EQ(lines[4], "CONFIG_B=m");
  EXPECT_EQ(lines[5], std::string(511, 'x'));
  EXPECT_EQ(lines[6], std::string(89, 'x'));
}

}  // namespace
}  // namespace coroner::kernel
