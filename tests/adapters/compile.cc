// compile.c as C++: the adapter headers in a C++ program.
#include "compile.c"
