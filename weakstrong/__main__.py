import sys

from weakstrong.cli import main

sys.exit(main())
