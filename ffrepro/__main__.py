import sys

from ffrepro.cli import main

sys.exit(main())
