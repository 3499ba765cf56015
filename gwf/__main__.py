from gwf.cli import main

main()
