// The shell's tokenizer and option parser on arbitrary command lines.
#include <cstdint>
#include <string>

#include "commands/command.h"
#include "shell/shell.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string line(reinterpret_cast<const char*>(data), size);
  auto words = coroner::shell::split_words(line);
  if (words.empty()) return 0;
  for (const auto& c : coroner::commands::all_commands())
    (void)coroner::commands::parse_args(c.spec, std::vector<std::string>(words.begin() + 1, words.end()));
  return 0;
}
