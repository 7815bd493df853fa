# coach_embed_files(TARGET DIR HEADER NAMESPACE FUNCTION FILE...): builds the
# files of DIR into TARGET (cmake/embed_files.cmake), each served at
# "/<file>" and index.html at "/"; NAMESPACE::FUNCTION, declared in HEADER,
# finds them. Editing a file rebuilds the target.
function(coach_embed_files target dir header namespace function)
  set(pairs)
  set(paths)
  foreach(file ${ARGN})
    set(url "/${file}")
    if(file STREQUAL "index.html")
      set(url "/")
    endif()
    list(APPEND pairs "${url}=${PROJECT_SOURCE_DIR}/${dir}/${file}")
    list(APPEND paths "${PROJECT_SOURCE_DIR}/${dir}/${file}")
  endforeach()
  string(REPLACE ";" "|" arg "${pairs}")  # one argument
  set(out ${CMAKE_BINARY_DIR}/gen/${function}.cpp)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} "-DFILES=${arg}" -DOUTPUT=${out} -DHEADER=${header}
            -DNAMESPACE=${namespace} -DFUNCTION=${function} -P
            ${PROJECT_SOURCE_DIR}/cmake/embed_files.cmake
    DEPENDS ${paths} ${PROJECT_SOURCE_DIR}/cmake/embed_files.cmake
    COMMENT "Embedding ${dir}/"
    VERBATIM)
  target_sources(${target} PRIVATE ${out})
endfunction()
