// coroner VMLINUX DUMP: the interactive crash-analysis shell.
#include "shell/shell.h"

int main(int argc, char** argv) { return coroner::shell::coroner_main(argc, argv); }
