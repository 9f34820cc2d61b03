from rupu.cli.main import main

main()
