# SPDX-License-Identifier: MIT
# bash completion for shmring(1): commands, each command's options, and ring
# names (from `shmring ls --names`). Installed as
# share/bash-completion/completions/shmring.

_shmring_rings()
{
	local IFS=$'\n'
	COMPREPLY+=($(compgen -W "$(shmring ls --names 2>/dev/null)" -- "$1"))
}

_shmring()
{
	local cur=$2 prev=$3 cmd="" i
	local commands="ls stat watch trace unlink help"

	COMPREPLY=()
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-*) ;;
		*)
			cmd=${COMP_WORDS[i]}
			break
			;;
		esac
	done
	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--help --version" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		fi
		return
	fi

	local opts=""
	case $cmd in
	ls) opts="--json --openmetrics --prometheus --names --help" ;;
	stat) opts="--json --openmetrics --prometheus --help" ;;
	watch)
		opts="--interval --count --width --help"
		case $prev in -i | --interval | -n | --count | -w | --width) return ;; esac
		;;
	trace)
		opts="--pid --lib --interval --duration --verbose --help"
		case $prev in
		-p | --pid)
			COMPREPLY=($(compgen -W "$(cd /proc && compgen -G '[0-9]*')" -- "$cur"))
			return
			;;
		-l | --lib)
			COMPREPLY=($(compgen -f -- "$cur"))
			return
			;;
		-i | --interval | -d | --duration) return ;;
		esac
		;;
	unlink) opts="--force --help" ;;
	help)
		COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		return
		;;
	*) return ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
	else
		_shmring_rings "$cur"
	fi
}

complete -F _shmring shmring
