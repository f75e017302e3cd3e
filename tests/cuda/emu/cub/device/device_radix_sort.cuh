/* Emulated device: CUB stand-in (see cub_standin.h). */
#include "../../cub_standin.h"
