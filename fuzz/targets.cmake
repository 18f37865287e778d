# fuzz targets: coroner_add_fuzzer(NAME file.cc LIBS ...)
coroner_add_fuzzer(dumpfmt_elf ${CMAKE_CURRENT_SOURCE_DIR}/dumpfmt_elf.cc LIBS coroner_dumpfmt)
coroner_add_fuzzer(dumpfmt_kdump ${CMAKE_CURRENT_SOURCE_DIR}/dumpfmt_kdump.cc LIBS coroner_dumpfmt)
coroner_add_fuzzer(dumpfmt_flattened ${CMAKE_CURRENT_SOURCE_DIR}/dumpfmt_flattened.cc LIBS coroner_dumpfmt)
