// coroner-capture: filters, compresses and writes dumps from /proc/vmcore (makedumpfile's
// job). Not implemented yet: the target exists so the build and packaging are in place.
#include <cstdio>

int main() {
  std::fputs("coroner-capture: not implemented yet\n", stderr);
  return 2;
}
