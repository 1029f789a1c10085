import sys

from rankpipe.cli.main import main

sys.exit(main())
