from wenzhen.launcher import main

main()
