from . import console  # the package imports nothing heavy: this is instant

console()
