# Turns a file into a C++ source defining `const char NAME[]` (NUL-terminated), so the
# wallboard ships inside the binary with no front-end build step.
#   cmake -DINPUT=file -DOUTPUT=file.cc -DNAME=kSymbol -DNAMESPACE=ns -P embed.cmake
file(READ "${INPUT}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "\\\\x\\1" escaped "${hex}")
file(WRITE "${OUTPUT}" "// Generated from ${INPUT} by embed.cmake; do not edit.\nnamespace ${NAMESPACE} {\nextern const char ${NAME}[];\nconst char ${NAME}[] = \"${escaped}\";\n}  // namespace ${NAMESPACE}\n")
