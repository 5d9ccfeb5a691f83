@echo off
rem Set one service's image in one environment, e.g. bump.bat --env dev --service catalog --tag SHA --digest sha256:... --push main
rem Windows twin of scripts/deploy/bump.sh: runs `shopfloor bump` from the repository's .venv
rem (.venv\Scripts\shopfloor.exe), else shopfloor on PATH. Every argument is passed through.
setlocal
for %%I in ("%~dp0..\..") do set "REPO_ROOT=%%~fI"
if defined SHOPFLOOR_REPO set "REPO_ROOT=%SHOPFLOOR_REPO%"
set "SHOPFLOOR=%~dp0..\..\.venv\Scripts\shopfloor.exe"
if not exist "%SHOPFLOOR%" set "SHOPFLOOR=shopfloor"
"%SHOPFLOOR%" --repo "%REPO_ROOT%" bump %*
exit /b %ERRORLEVEL%
