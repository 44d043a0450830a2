#include "s2d/cli/commands.h"

int main(int argc, char** argv) { return s2d::cli::run(argc, argv); }
