from filewallball.cli import main

main()
