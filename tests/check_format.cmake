# Fails when any C++ file of coach differs from what clang-format makes of it.
file(GLOB_RECURSE sources
  ${SOURCE_DIR}/events/*.cpp ${SOURCE_DIR}/events/*.h
  ${SOURCE_DIR}/projections/*.cpp ${SOURCE_DIR}/projections/*.h
  ${SOURCE_DIR}/actors/*.cpp ${SOURCE_DIR}/actors/*.h
  ${SOURCE_DIR}/apps/*.cpp ${SOURCE_DIR}/apps/*.h
  ${SOURCE_DIR}/bench/*.cpp ${SOURCE_DIR}/bench/*.h
  ${SOURCE_DIR}/tests/*.cpp ${SOURCE_DIR}/tests/*.h)
execute_process(COMMAND ${CLANG_FORMAT} --dry-run --Werror ${sources}
                RESULT_VARIABLE result ERROR_VARIABLE errors)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "clang-format wants changes (run clang-format -i on them):\n${errors}")
endif()
