// coroner-kexec: loads a kernel to boot now or on panic (kexec-tools' job). Not
// implemented yet: the target exists so the build and packaging are in place.
#include <cstdio>

int main() {
  std::fputs("coroner-kexec: not implemented yet\n", stderr);
  return 2;
}
